"""Texts of the gradient-flow area (see graphmagic.messages): the section, unused-parameter,
nonfinite-grad."""

EN: dict[str, str] = {
    "gradflow.title": "Gradient flow · {n} parameter(s) in {modules} module(s) got gradients",
    "gradflow.at_line": " (backward() at line {line})",
    "gradflow.col.parameter": "parameter",
    "gradflow.col.shape": "shape",
    "gradflow.col.norm": "‖grad‖",
    "gradflow.col.max": "max |grad|",
    "gradflow.legend": "bar: L2 norm of the gradient · tick: largest |element| · log scale",
    "gradflow.alt": "bar chart of the gradient norms of {n} parameters, log scale",
    "gradflow.spread": "Gradient norms across layers span {spread}× (more than six orders of "
                       "magnitude): {low} {low_norm} against {high} {high_norm}. Layers that "
                       "small learn almost nothing (vanishing gradients); check the "
                       "initialisation, the activations and normalisation.",
    "gradflow.more": "… {n} more parameters (all of them in the report JSON)",
    "gradflow.and_more": "and {n} more",
    # unused-parameter
    "gradflow.unused.message": "{module} ({params}) got no gradient from the backward() at "
                               "{where}, while {n} other parameter(s) of {group} did: it is not "
                               "in the graph backward() ran through — not used in the forward, "
                               "used only under torch.no_grad(), or cut off by .detach(). Its "
                               ".grad stays as it was, and an optimizer step leaves it unchanged.",
    "gradflow.unused.fix": "use it in the forward (outside `torch.no_grad()`, without `.detach()`), "
                           "or freeze it on purpose with `{module}.requires_grad_(False)`; "
                           "DistributedDataParallel stops on such parameters (\"Expected to "
                           "have finished reduction ...\") unless `find_unused_parameters=True`",
    # nonfinite-grad
    "gradflow.nonfinite.nan": "NaN",
    "gradflow.nonfinite.inf": "Inf",
    "gradflow.nonfinite.both": "NaN and Inf",
    "gradflow.nonfinite.inputs": "its inputs",
    "gradflow.nonfinite.message": "{names} got gradients with {what} from the backward() at "
                                  "{where}.",
    "gradflow.nonfinite.try_anomaly": "Run the cell again with --anomaly to find the op and the "
                                      "line that produced the first NaN.",
    "gradflow.nonfinite.inf_passes": "--anomaly stops a backward pass at the first NaN only; an "
                                     "infinite gradient passes it.",
    "gradflow.nonfinite.fix": "find where the forward divides by zero, takes sqrt or log of 0, or "
                              "overflows (`--anomaly` names the op and line); add an epsilon "
                              "(`torch.sqrt(x + 1e-12)`), clamp (`x.clamp_min(1e-12).log()`), or "
                              "make the input of `torch.where`'s unused branch safe too",
    "gradflow.nonfinite.message_op": "The backward of {op} ({fn}, output {output}), made at "
                                     "{where}: `{code}`, returned NaN — the first non-finite "
                                     "gradient of the pass; anomaly detection stopped backward() "
                                     "there. It flows into {var}.",
    "gradflow.nonfinite.fix_op": "keep the input of {op} away from where its derivative is "
                                 "infinite: add an epsilon (`torch.sqrt(x + 1e-12)`), clamp "
                                 "(`x.clamp_min(1e-12)`), or, under `torch.where`, make the input "
                                 "safe too, not only the output (`torch.where(x > 0, x, 1).sqrt()`)",
}

ZH: dict[str, str] = {
    "gradflow.title": "梯度流 · {modules} 个模块中的 {n} 个参数得到了梯度",
    "gradflow.at_line": "（第 {line} 行的 backward()）",
    "gradflow.col.parameter": "参数",
    "gradflow.col.shape": "形状",
    "gradflow.col.norm": "‖grad‖",
    "gradflow.col.max": "最大 |grad|",
    "gradflow.legend": "条形：梯度的 L2 范数 · 刻线：最大绝对值元素 · 对数坐标",
    "gradflow.alt": "{n} 个参数梯度范数的条形图（对数坐标）",
    "gradflow.spread": "各层梯度范数相差 {spread} 倍（超过六个数量级）：{low} 为 {low_norm}，"
                       "{high} 为 {high_norm}。梯度这么小的层几乎学不到东西（梯度消失）；"
                       "请检查初始化、激活函数和归一化。",
    "gradflow.more": "… 另有 {n} 个参数（完整列表见报告 JSON）",
    "gradflow.and_more": "等另外 {n} 个",
    # unused-parameter
    "gradflow.unused.message": "{module}（{params}）没有从 {where} 的 backward() 得到梯度，而 "
                               "{group} 的另外 {n} 个参数得到了：它不在 backward() 经过的计算图中——"
                               "前向计算没有用到它、只在 torch.no_grad() 下用到，或被 .detach() "
                               "切断。它的 .grad 保持原样，优化器的更新也不会改变它。",
    "gradflow.unused.fix": "在前向计算中使用它（不在 `torch.no_grad()` 中，也不经过 `.detach()`），"
                           "或者用 `{module}.requires_grad_(False)` 明确冻结它；"
                           "DistributedDataParallel 遇到这样的参数会报错（\"Expected to have "
                           "finished reduction ...\"），除非设置 `find_unused_parameters=True`",
    # nonfinite-grad
    "gradflow.nonfinite.nan": "NaN",
    "gradflow.nonfinite.inf": "Inf",
    "gradflow.nonfinite.both": "NaN 和 Inf",
    "gradflow.nonfinite.inputs": "它的输入",
    "gradflow.nonfinite.message": "{names} 从 {where} 的 backward() 得到了含 {what} 的梯度。",
    "gradflow.nonfinite.try_anomaly": "加上 --anomaly 重新运行本单元，可以找到产生第一个 NaN 的"
                                      "操作和代码行。",
    "gradflow.nonfinite.inf_passes": "--anomaly 只在第一个 NaN 处停止反向传播；无穷大的梯度不会被拦下。",
    "gradflow.nonfinite.fix": "找出前向计算中除以零、对 0 取 sqrt 或 log、或数值溢出的地方"
                              "（`--anomaly` 会指出操作和代码行）；加一个小量（`torch.sqrt(x + 1e-12)`）、"
                              "截断（`x.clamp_min(1e-12).log()`），或让 `torch.where` 未选分支的输入也保持安全",
    "gradflow.nonfinite.message_op": "{op}（{fn}，第 {output} 个输出）的反向计算返回了 NaN——"
                                     "这是本次反向传播中第一个非有限梯度，异常检测在此处停止了 "
                                     "backward()。该操作创建于 {where}：`{code}`。它会流入 {var}。",
    "gradflow.nonfinite.fix_op": "让 {op} 的输入远离其导数为无穷大的点：加一个小量"
                                 "（`torch.sqrt(x + 1e-12)`）、截断（`x.clamp_min(1e-12)`），或在 "
                                 "`torch.where` 中不仅处理输出，也让输入保持安全"
                                 "（`torch.where(x > 0, x, 1).sqrt()`）",
}
