"""Texts of the tracking and memory areas (see graphmagic.messages)."""

EN: dict[str, str] = {
    # tracking: statuses and details
    "tracking.status.new": "new",
    "tracking.status.rebound": "rebound",
    "tracking.status.in-place": "in-place",
    "tracking.status.deleted": "deleted",
    "tracking.status.unchanged": "unchanged",
    "tracking.status_detail": "{status}: {detail}",
    "tracking.detail.new-memory": "new memory",
    "tracking.detail.same-storage": "same storage",
    "tracking.detail.shares-storage": "shares storage with {other}",
    "tracking.detail.same-tensor": "same tensor as {other}",
    "tracking.detail.via-data": "in-place via .data: autograd did not see it",
    "tracking.detail.storage-replaced": "in-place: storage replaced",
    "tracking.detail.via-alias": "changed through {other} (shared storage)",
    "tracking.detail.new-then-in-place": "then changed in place at line {at} (same id)",
    "tracking.detail.new-then-via-alias": "then changed through {other} (shared storage)",
    "tracking.detail.temporary": "written in place",
    "tracking.detail.temporary_rhs": "; {rhs} made a temporary first",
    "tracking.detail.result": "the cell's result",
    "tracking.detail.freed": "memory freed",
    "tracking.detail.still-referenced": "name removed; the tensor is still referenced elsewhere",
    "tracking.detail.kept-by-torch": "name removed; PyTorch itself still holds the tensor (an "
                                     "autograd graph that uses it), so its memory is not freed yet",
    "tracking.detail.now-a": "now a {type}",
    "tracking.detail.then_in_place": ", then changed in place at line {at}",
    "tracking.static": "(static: inside a loop or function)",
    # tracking: table
    "tracking.title": "Tensors",
    "tracking.nothing": "no tensors",
    "tracking.count": "{n} {label}",
    "tracking.unchanged_counted": "{n} unchanged (not listed; --all lists them)",
    "tracking.state_counted": "{n} autograd state changed",
    "tracking.unchanged_listed": "{n} unchanged",
    "tracking.col.name": "name",
    "tracking.col.status": "status",
    "tracking.col.id": "id",
    "tracking.col.version": "version",
    "tracking.col.tensor": "shape dtype device",
    "tracking.col.bytes": "bytes",
    "tracking.col.requires_grad": "requires_grad",
    "tracking.col.is_leaf": "is_leaf",
    "tracking.col.grad_fn": "grad_fn",
    "tracking.col.retains_grad": "retains_grad",
    "tracking.col.grad": "grad",
    "tracking.col.lines": "line",
    "tracking.of_storage": "(storage {total})",
    "tracking.more_rows": "… {n} more rows (the report JSON has them all)",
    "tracking.grad_set": "set",
    "tracking.state.field": "{field} changed",
    "tracking.state.grad_set": ".grad set",
    "tracking.state.grad_cleared": ".grad cleared",
    "tracking.state.grad_accumulated": ".grad changed in place (accumulated)",
    "tracking.state.grad_replaced": ".grad replaced",
    "tracking.state.grad_set_at": ".grad set by backward() at line {backward}",
    "tracking.state.grad_accumulated_at": ".grad added to by backward() at line {backward} "
                                          "(accumulated)",
    "tracking.state.grad_zeroed_set": ".grad zeroed at line {zero}, then set by backward() at line "
                                      "{backward}",
    "tracking.alias": "{name} shares storage with {other} ({how}) · {size} on {device}",
    "tracking.alias_plain": "{name} shares storage with {other} · {size} on {device}",
    "tracking.how.same tensor": "same tensor",
    "tracking.how.view": "view",
    "tracking.how.slice": "slice",
    "tracking.how.detach": "detach",
    "tracking.how..data": ".data",
    "tracking.how.shares storage": "shares storage",
    "tracking.lines_static": "Lines are read from the cell's code; --trace records them as they run.",
    "tracking.lines_exact": "Lines recorded as they ran (--trace); (×n) counts the runs.",
    # memory
    "memory.title": "Memory",
    "memory.held": "tensors in your variables (each storage counted once): {devices}",
    "memory.held_device": "{device} {before} → {after} ({change})",
    "memory.no_tensors": "none",
    "memory.cpu_peak": "CPU peak during the cell: {peak} above the start, {end} at the end "
                       "(resident memory of the whole process, not only tensors; from VmHWM)",
    "memory.cpu_unavailable.no-proc": "CPU peak: not measured; this system has no /proc "
                                      "high-water mark to reset (Linux only). --trace measures "
                                      "the tensor peak exactly.",
    "memory.cpu_unavailable.no-clear-refs": "CPU peak: not measured; /proc/self/clear_refs is "
                                            "missing. --trace measures the tensor peak exactly.",
    "memory.cpu_unavailable.denied": "CPU peak: not measured; resetting the high-water mark "
                                     "was refused ({detail}). --trace measures the tensor peak "
                                     "exactly.",
    "memory.rss_now": "Process resident memory now: {rss}.",
    "memory.cuda": "{device} peak during the cell: {peak} above the start, {end} at the end "
                   "(tensor memory of the caching allocator)",
    "memory.cuda_reset": "(its peak counter was reset when the cell started)",
    "memory.cuda_new": "(CUDA started during the cell)",
    "memory.trace.peak": "Exact tensor peak on {device} (--trace): {peak} above the start, "
                         "{where}; {end} at the end",
    "memory.before_first_line": "before the first line",
    "memory.at_line": "at line {line}",
    "memory.at_cell_line": "at {cell} line {line}",
    "memory.line": "line {line}",
    "memory.trace.per_line": "Per line (--trace: allocated, freed, largest rise within one run):",
    "memory.trace.more": "… {n} more lines (full list in the report JSON)",
    "memory.trace.ran": "ran {n}×",
    "memory.trace.bytes": "allocated {allocated}, freed {freed}, rise {rise}",
    "memory.trace.inplace": "changed in place: {names}",
    "memory.trace.unwatched": "--trace watched the version counters of 64 namespace tensors "
                              "(those the cell names first); {n} more were compared only "
                              "before and after.",
    "memory.trace.lines_unavailable.tracer-active": "--trace: another tracer (a debugger or "
                                                    "coverage) is active, so lines were not "
                                                    "traced.",
    "memory.trace.bytes_unavailable.no-profiler": "--trace: this PyTorch build cannot report "
                                                  "allocations; no exact tensor peak.",
    "memory.trace.bytes_unavailable.profiler-active": "--trace: a PyTorch profiler was already "
                                                      "running; no exact tensor peak.",
    "memory.trace.bytes_unavailable.cell-profiles": "--trace: the cell uses the PyTorch "
                                                    "profiler, which graphmagic's allocation "
                                                    "recorder would block; no exact tensor peak.",
    "memory.trace.bytes_unavailable.tracer-active": "--trace: no exact tensor peak without the "
                                                    "line tracer.",
    "memory.trace.bytes_unavailable.error": "--trace: the allocation recorder did not start "
                                            "({detail}); no exact tensor peak.",
    "memory.temporary_exact": "Line {line}: `{code}` writes into {target} in place, but {rhs} "
                              "first allocated a temporary of {size}.",
    "memory.temporary_about": "Line {line}: `{code}` writes into {target} in place, but {rhs} "
                              "first allocates a temporary (about {size}, the size of {target}).",
    "memory.temporary_out": "`{alternative}` writes the result straight into {target}.",
    "memory.col.line": "line",
    "memory.col.ran": "ran",
    "memory.col.allocated": "allocated",
    "memory.col.freed": "freed",
    "memory.col.rise": "largest rise",
    "memory.col.inplace": "changed in place",
    "memory.col.code": "code",
    "memory.autograd.held": "Autograd graphs your variables keep: {graphs} graph(s), {nodes} "
                            "backward nodes; saved tensors they still hold (each storage once, "
                            "your variables' own tensors not counted): {saved}",
    "memory.autograd.none_saved": "none",
    "memory.autograd.nodes_only": "{n} more graph(s) hold backward nodes only ({nodes} nodes; "
                                  "a backward pass freed their saved tensors, or they saved none)",
    "memory.autograd.graph": "{names}: {nodes} nodes, {saved}",
    "memory.autograd.more": "… {n} more graphs holding saved tensors (full list in the report JSON)",
    "memory.autograd.top": "Biggest holders: {holders}",
    "memory.autograd.hooked": "{n} saved tensors behind saved_tensors_hooks are not counted "
                              "(where they live is up to the hooks).",
    "memory.autograd.truncated": "The walk stopped after 20,000 backward nodes: these figures are "
                                 "a lower bound.",
}

ZH: dict[str, str] = {
    "tracking.status.new": "新建",
    "tracking.status.rebound": "重新绑定",
    "tracking.status.in-place": "原地修改",
    "tracking.status.deleted": "已删除",
    "tracking.status.unchanged": "未改变",
    "tracking.status_detail": "{status}：{detail}",
    "tracking.detail.new-memory": "新分配的内存",
    "tracking.detail.same-storage": "仍是同一块存储",
    "tracking.detail.shares-storage": "与 {other} 共享存储",
    "tracking.detail.same-tensor": "与 {other} 是同一个张量",
    "tracking.detail.via-data": "通过 .data 原地修改：autograd 没有察觉",
    "tracking.detail.storage-replaced": "原地修改：存储被整个替换",
    "tracking.detail.via-alias": "经由 {other} 被修改（共享存储）",
    "tracking.detail.new-then-in-place": "随后在第 {at} 行被原地修改（id 不变）",
    "tracking.detail.new-then-via-alias": "随后经由 {other} 被修改（共享存储）",
    "tracking.detail.temporary": "原地写入",
    "tracking.detail.temporary_rhs": "；{rhs} 先生成了一个临时张量",
    "tracking.detail.result": "本单元的结果",
    "tracking.detail.freed": "内存已释放",
    "tracking.detail.still-referenced": "名字已删除；张量仍被别处引用",
    "tracking.detail.kept-by-torch": "名字已删除；PyTorch 自身仍持有该张量（某个用到它的自动求导计算图），"
                                     "所以它的内存还没有释放",
    "tracking.detail.now-a": "现在是 {type}",
    "tracking.detail.then_in_place": "，随后在第 {at} 行被原地修改",
    "tracking.static": "（静态推断：位于循环或函数内）",
    "tracking.title": "张量",
    "tracking.nothing": "没有张量",
    "tracking.count": "{label} {n} 个",
    "tracking.unchanged_counted": "未改变 {n} 个（未列出；--all 会列出）",
    "tracking.state_counted": "autograd 状态改变 {n} 个",
    "tracking.unchanged_listed": "未改变 {n} 个",
    "tracking.col.name": "名称",
    "tracking.col.status": "状态",
    "tracking.col.id": "id",
    "tracking.col.version": "版本",
    "tracking.col.tensor": "形状 类型 设备",
    "tracking.col.bytes": "字节",
    "tracking.col.requires_grad": "requires_grad",
    "tracking.col.is_leaf": "is_leaf",
    "tracking.col.grad_fn": "grad_fn",
    "tracking.col.retains_grad": "retains_grad",
    "tracking.col.grad": "grad",
    "tracking.col.lines": "行",
    "tracking.of_storage": "（存储 {total}）",
    "tracking.more_rows": "… 另有 {n} 行（报告 JSON 中有全部内容）",
    "tracking.grad_set": "已设置",
    "tracking.state.field": "{field} 已改变",
    "tracking.state.grad_set": ".grad 已设置",
    "tracking.state.grad_cleared": ".grad 已清除",
    "tracking.state.grad_accumulated": ".grad 被原地修改（梯度累加）",
    "tracking.state.grad_replaced": ".grad 被替换",
    "tracking.state.grad_set_at": ".grad 由第 {backward} 行的 backward() 设置",
    "tracking.state.grad_accumulated_at": ".grad 被第 {backward} 行的 backward() 累加（梯度累加）",
    "tracking.state.grad_zeroed_set": ".grad 在第 {zero} 行清零，随后由第 {backward} 行的 backward() 设置",
    "tracking.alias": "{name} 与 {other} 共享存储（{how}）· {device} 上 {size}",
    "tracking.alias_plain": "{name} 与 {other} 共享存储 · {device} 上 {size}",
    "tracking.how.same tensor": "同一个张量",
    "tracking.how.view": "视图",
    "tracking.how.slice": "切片",
    "tracking.how.detach": "detach",
    "tracking.how..data": ".data",
    "tracking.how.shares storage": "共享存储",
    "tracking.lines_static": "行号根据单元代码推断；--trace 会在运行时记录实际执行的行。",
    "tracking.lines_exact": "行号为运行时实际记录（--trace）；(×n) 表示执行次数。",
    "memory.title": "内存",
    "memory.held": "变量中的张量（每块存储只计一次）：{devices}",
    "memory.held_device": "{device} {before} → {after}（{change}）",
    "memory.no_tensors": "无",
    "memory.cpu_peak": "本单元运行期间的 CPU 峰值：比开始时高 {peak}，结束时 {end}"
                       "（整个进程的常驻内存，不只是张量；取自 VmHWM）",
    "memory.cpu_unavailable.no-proc": "CPU 峰值：未测量；本系统没有可重置的 /proc 内存高水位"
                                      "（仅限 Linux）。--trace 可以精确测量张量峰值。",
    "memory.cpu_unavailable.no-clear-refs": "CPU 峰值：未测量；缺少 /proc/self/clear_refs。"
                                            "--trace 可以精确测量张量峰值。",
    "memory.cpu_unavailable.denied": "CPU 峰值：未测量；重置内存高水位被拒绝（{detail}）。"
                                     "--trace 可以精确测量张量峰值。",
    "memory.rss_now": "当前进程常驻内存：{rss}。",
    "memory.cuda": "{device} 本单元运行期间的峰值：比开始时高 {peak}，结束时 {end}"
                   "（缓存分配器中的张量内存）",
    "memory.cuda_reset": "（其峰值计数器已在单元开始时重置）",
    "memory.cuda_new": "（CUDA 在本单元运行期间才初始化）",
    "memory.trace.peak": "{device} 上的精确张量峰值（--trace）：比开始时高 {peak}，{where}；"
                         "结束时 {end}",
    "memory.before_first_line": "出现在第一行之前",
    "memory.at_line": "出现在第 {line} 行",
    "memory.at_cell_line": "出现在 {cell} 第 {line} 行",
    "memory.line": "第 {line} 行",
    "memory.trace.per_line": "逐行统计（--trace：分配、释放、单次执行内的最大增长）：",
    "memory.trace.more": "… 另有 {n} 行（完整列表见报告 JSON）",
    "memory.trace.ran": "执行 {n} 次",
    "memory.trace.bytes": "分配 {allocated}，释放 {freed}，增长 {rise}",
    "memory.trace.inplace": "原地修改：{names}",
    "memory.trace.unwatched": "--trace 逐行监视了 64 个命名空间张量的版本计数器（优先是本单元"
                              "代码中出现的）；另外 {n} 个只在运行前后比较。",
    "memory.trace.lines_unavailable.tracer-active": "--trace：已有其他跟踪器（调试器或覆盖率工具）"
                                                    "在运行，因此没有逐行跟踪。",
    "memory.trace.bytes_unavailable.no-profiler": "--trace：此 PyTorch 版本无法报告内存分配；"
                                                  "没有精确张量峰值。",
    "memory.trace.bytes_unavailable.profiler-active": "--trace：已有 PyTorch profiler 在运行；"
                                                      "没有精确张量峰值。",
    "memory.trace.bytes_unavailable.cell-profiles": "--trace：本单元使用了 PyTorch profiler，"
                                                    "graphmagic 的分配记录器会妨碍它；"
                                                    "没有精确张量峰值。",
    "memory.trace.bytes_unavailable.tracer-active": "--trace：没有逐行跟踪，就没有精确张量峰值。",
    "memory.trace.bytes_unavailable.error": "--trace：分配记录器未能启动（{detail}）；"
                                            "没有精确张量峰值。",
    "memory.temporary_exact": "第 {line} 行：`{code}` 原地写入 {target}，但 {rhs} "
                              "先分配了一个 {size} 的临时张量。",
    "memory.temporary_about": "第 {line} 行：`{code}` 原地写入 {target}，但 {rhs} "
                              "会先分配一个临时张量（约 {size}，与 {target} 一样大）。",
    "memory.temporary_out": "`{alternative}` 会把结果直接写入 {target}。",
    "memory.col.line": "行",
    "memory.col.ran": "执行次数",
    "memory.col.allocated": "分配",
    "memory.col.freed": "释放",
    "memory.col.rise": "最大增长",
    "memory.col.inplace": "原地修改",
    "memory.col.code": "代码",
    "memory.autograd.held": "变量保留的 autograd 计算图：{graphs} 张，{nodes} 个反向节点；"
                            "它们仍占用的保存张量（每块存储只计一次，不含变量自身的张量）：{saved}",
    "memory.autograd.none_saved": "无",
    "memory.autograd.nodes_only": "另有 {n} 张计算图只保留反向节点（{nodes} 个节点；其保存张量已被"
                                  "反向传播释放，或本来就没有保存张量）",
    "memory.autograd.graph": "{names}：{nodes} 个节点，{saved}",
    "memory.autograd.more": "… 另有 {n} 张保留保存张量的计算图（完整列表见报告 JSON）",
    "memory.autograd.top": "占用最多的操作：{holders}",
    "memory.autograd.hooked": "有 {n} 个保存张量由 saved_tensors_hooks 管理，未计入（存放位置由钩子决定）。",
    "memory.autograd.truncated": "遍历在 20,000 个反向节点处停止：以上数字是下限。",
}
