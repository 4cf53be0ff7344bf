"""Texts of the pitfalls area (see graphmagic.messages): findings, fixes, exception hints."""

EN: dict[str, str] = {
    "pitfalls.note": "graphmagic {text}",
    "pitfalls.at_line": "line {line}",
    "pitfalls.anon": "this tensor",
    # nonleaf-grad
    "pitfalls.nonleaf.message": "{var}.grad is None — {var} is not a leaf ({grad_fn}) and did not call "
                                "retain_grad(), so backward() does not keep its gradient.",
    "pitfalls.nonleaf.message_nofn": "{var}.grad is None — {var} is not a leaf and did not call "
                                     "retain_grad(), so backward() does not keep its gradient.",
    "pitfalls.nonleaf.message_anon": "this .grad is None — the tensor is not a leaf and did not call "
                                     "retain_grad(), so backward() does not keep its gradient.",
    "pitfalls.nonleaf.fix": "call `{var}.retain_grad()` before `backward()`, or read the grad of a leaf",
    "pitfalls.nonleaf.fix_anon": "call `.retain_grad()` on the tensor before `backward()`, or read the grad of "
                                 "a leaf",
    # grad-accumulated
    "pitfalls.accumulated.anon": "a leaf of shape {shape}",
    "pitfalls.accumulated.message": "{var}.grad was not zeroed between backward passes: it now holds "
                                    "the sum of {passes} passes (the first at {first}).",
    "pitfalls.accumulated.message_module": "The .grad of {n} parameters of {owner} ({names}) was not "
                                           "zeroed between backward passes: each now holds the sum "
                                           "of {passes} passes (the first at {first}).",
    "pitfalls.accumulated.message_optimizer": "The .grad of the {n} tensors {owner} updates ({names}) "
                                              "was not zeroed between backward passes: each now holds "
                                              "the sum of {passes} passes (the first at {first}).",
    "pitfalls.accumulated.message_anon": "The .grad of {leaf} was not zeroed between backward passes: "
                                         "it now holds the sum of {passes} passes (the first at "
                                         "{first}).",
    "pitfalls.accumulated.message_anon_many": "The .grad of {n} leaves, each {leaf}, was not zeroed "
                                              "between backward passes: each now holds the sum of "
                                              "{passes} passes (the first at {first}).",
    "pitfalls.accumulated.fix": "zero it before each backward(): {var}.grad = None (or "
                                "{var}.grad.zero_())",
    "pitfalls.accumulated.fix_zero_grad": "call {owner}.zero_grad() before each backward()",
    "pitfalls.accumulated.fix_anon": "set the leaf's .grad to None before each backward(); keep a "
                                     "name for the leaf so that you can",
    "pitfalls.leaf_made": "the leaf made at {where} ({expr})",
    "pitfalls.leaf_was": "the leaf that {name} held at {where}",
    # what backward() differentiated (the graph's roots)
    "pitfalls.root_at": "the tensor differentiated at {where}",
    "pitfalls.root_elsewhere": "{expr} ({where})",
    # nonscalar-backward
    "pitfalls.nonscalar.message": "{var} has shape {shape}: backward() without an argument needs a "
                                  "scalar (a single element).",
    "pitfalls.nonscalar.message_noshape": "{var} is not a scalar: backward() without an argument "
                                          "needs a single element.",
    "pitfalls.nonscalar.fix": "`{var}.sum().backward()`, or `{var}.backward(torch.ones_like({var}))` — the "
                              "two are the same",
    "pitfalls.nonscalar.fix_anon": "call .sum().backward() on it, or pass .backward() a gradient of "
                                   "its shape (torch.ones_like of it) — the two are the same",
    # backward-twice
    "pitfalls.twice.message": "backward() through the graph of {var} ran again, but the backward() "
                              "at {first} already freed the values that graph saved.",
    "pitfalls.twice.message_nofirst": "backward() through the graph of {var} ran again, but an "
                                      "earlier backward() already freed the values that graph saved.",
    "pitfalls.twice.fix": "pass `retain_graph=True` to the `backward()` at {first} if you need a second "
                          "pass, or recompute {var} before calling `backward()` again",
    "pitfalls.twice.fix_anon": "pass retain_graph=True to the backward() at {first} if you need a "
                               "second pass, or compute the tensor again before calling backward() "
                               "again",
    "pitfalls.twice.fix_nofirst": "pass `retain_graph=True` to the first `backward()`, or recompute {var} before "
                                  "calling `backward()` again",
    "pitfalls.twice.fix_nofirst_anon": "pass retain_graph=True to the first backward(), or compute "
                                       "the tensor again before calling backward() again",
    # leaf-inplace
    "pitfalls.inplace.message": "{var} is a leaf tensor that requires grad; PyTorch refuses to "
                                "change it in place ({how}) while autograd records, because its "
                                "gradient would no longer match its value.",
    "pitfalls.inplace.fix": "do parameter updates under `with torch.no_grad():` (e.g. `with "
                            "torch.no_grad(): {var} -= lr * {var}.grad`), or set the value before "
                            "`requires_grad_()`",
    "pitfalls.inplace.fix_anon": "do parameter updates under `with torch.no_grad():`, or set the "
                                 "value before requires_grad_()",
    # saved-modified
    "pitfalls.saved.message": "{var} (shape {shape}) was saved for backward, then this line "
                              "changed it in place: it is at version {now}, backward needs version "
                              "{expected}.",
    "pitfalls.saved.message_nosite": "{var} (shape {shape}) was saved for backward and then changed "
                                     "in place — it is at version {now}, backward needs version "
                                     "{expected}.",
    "pitfalls.saved.message_anon": "a tensor of shape {shape} was saved for backward and then "
                                   "changed in place — it is at version {now}, backward needs "
                                   "version {expected}.",
    "pitfalls.saved.via": "{alias} shares memory with {var}, so changing {alias} changed {var}.",
    "pitfalls.saved.fix": "compute out of place (`{var} = {var} + ...` instead of `{var} += ...` or "
                          "`{var}.add_(...)`), or modify a .clone() instead",
    "pitfalls.saved.fix_anon": "compute out of place (a new tensor from + or add() instead of += or "
                               "add_()), or modify a .clone() instead",
    # no-grad-path
    "pitfalls.nograd.message_unknown": "{var} does not require grad and has no grad_fn: there is no "
                                       "graph to run backward() through.",
    "pitfalls.nograd.fix_unknown": "give an input `requires_grad=True`, and compute outside `torch.no_grad()` and "
                                   "without `detach()`",
    "pitfalls.nograd.message_leaves": "{var} does not require grad: it is computed only from tensors "
                                      "that do not require grad ({names}).",
    "pitfalls.nograd.fix_leaves": "create the leaves with `requires_grad=True`, e.g. call "
                                  "`{name}.requires_grad_()` before computing",
    "pitfalls.nograd.message_no_grad": "{var} does not require grad: {name} was computed under "
                                       "torch.no_grad() ({where}), so no graph was recorded.",
    "pitfalls.nograd.fix_no_grad": "compute {name} outside `with torch.no_grad():` when you need its "
                                   "gradient",
    "pitfalls.nograd.message_detach": "{var} does not require grad: {name} was cut from the graph by "
                                      "detach() ({where}).",
    "pitfalls.nograd.fix_detach": "compute from the tensor before `.detach()`, or call `{name}.requires_grad_()` "
                                  "to start a new graph from it",
    # leaf-moved
    "pitfalls.moved.message": "{var} = {call} made {var} a copy ({grad_fn}) of the leaf that "
                              "requires grad: {var} is no longer a leaf, backward() fills the old "
                              "tensor's .grad and {var}.grad stays None.",
    "pitfalls.moved.fix": "create it on the right device and dtype directly (`torch.tensor(..., "
                          "device=..., requires_grad=True)`), or `{var} = "
                          "{var}.detach().to(...).requires_grad_()`",
    # data-mutation
    "pitfalls.data.message_backward": "{var}.data was changed after {root} was computed from {var} "
                                      "and before its backward() ({backward}); autograd does not see "
                                      "changes made through .data, so the gradient may be silently "
                                      "wrong.",
    "pitfalls.data.message_alive": "{var}.data was changed while the graph of {root} still uses "
                                   "{var}; autograd does not see changes made through .data, so a "
                                   "later {root}.backward() may give silently wrong gradients.",
    "pitfalls.data.fix": "change {var} under `with torch.no_grad():` (autograd then notices), or "
                         "recompute {root} after the change",
    # detach-alias
    "pitfalls.detach.message": "{changed} and {other} share memory ({target} = {source}.detach(), "
                               "{where}): changing {changed} in place changed {other} too.",
    "pitfalls.detach.fix": "take an independent copy with `{source}.detach().clone()`, or change "
                           "{changed} out of place",
    # history-kept and graph-not-needed
    'pitfalls.history.message': '{var} keeps the autograd history of {n} iterations ({nodes} backward nodes; saved tensors still held: {saved}): each iteration adds its graph to {var}, which is never differentiated, so the history grows with every step and is never freed.',
    'pitfalls.history.message_list': "{var} keeps {n} tensors that each carry their iteration's autograd graph ({nodes} backward nodes; saved tensors still held: {saved}), so the list holds history that grows with every step.",
    'pitfalls.history.no_saved': 'none, a backward pass freed them',
    'pitfalls.history.fix': 'keep a number, not the graph: `{fixed}` (`.item()` or `float()`; `.detach()` keeps a tensor without history)',
    'pitfalls.notneeded.message': "{var} keeps {n} iterations' graphs built with gradients on ({nodes} backward nodes) with {saved} of saved activations, but nothing in this cell calls backward() on them: they hold that memory until {var} goes away.",
    'pitfalls.notneeded.fix': 'evaluate under `with torch.no_grad():` (or `torch.inference_mode()`) and keep numbers: `{fixed}`; if you do mean to call `backward()` later, call it once per iteration instead',
    'pitfalls.notneeded.message_eval': '{model} is in eval() mode, but its forward ran with gradients on: {var} keeps a graph of {nodes} backward nodes with {saved} of saved activations that nothing here differentiates.',
    'pitfalls.notneeded.fix_eval': 'run the evaluation under `with torch.no_grad():` (or `torch.inference_mode()`); `eval()` changes dropout and batch norm, not gradient recording',
}

ZH: dict[str, str] = {
    "pitfalls.note": "graphmagic {text}",
    "pitfalls.at_line": "第 {line} 行",
    "pitfalls.anon": "该张量",
    # nonleaf-grad
    "pitfalls.nonleaf.message": "{var}.grad 为 None —— {var} 不是叶子节点（{grad_fn}），也没有调用 "
                                "retain_grad()，所以 backward() 不会保留它的梯度。",
    "pitfalls.nonleaf.message_nofn": "{var}.grad 为 None —— {var} 不是叶子节点，也没有调用 "
                                     "retain_grad()，所以 backward() 不会保留它的梯度。",
    "pitfalls.nonleaf.message_anon": "这里读取的 .grad 为 None —— 该张量不是叶子节点，也没有调用 "
                                     "retain_grad()，所以 backward() 不会保留它的梯度。",
    "pitfalls.nonleaf.fix": "在 `backward()` 之前调用 `{var}.retain_grad()`，或者改为读取叶子节点的梯度",
    "pitfalls.nonleaf.fix_anon": "在 `backward()` 之前对该张量调用 `.retain_grad()`，或者改为读取叶子节点的梯度",
    # grad-accumulated
    "pitfalls.accumulated.anon": "形状为 {shape} 的叶子张量",
    "pitfalls.accumulated.message": "{var}.grad 在两次反向传播之间没有清零：它现在是 {passes} 次反向传播"
                                    "梯度的累加和（第一次：{first}）。",
    "pitfalls.accumulated.message_module": "{owner} 的 {n} 个参数（{names}）的 .grad 在两次反向传播之间"
                                           "没有清零：每个现在都是 {passes} 次反向传播梯度的累加和"
                                           "（第一次：{first}）。",
    "pitfalls.accumulated.message_optimizer": "{owner} 更新的 {n} 个张量（{names}）的 .grad 在两次反向"
                                              "传播之间没有清零：每个现在都是 {passes} 次反向传播梯度的"
                                              "累加和（第一次：{first}）。",
    "pitfalls.accumulated.message_anon": "{leaf}的 .grad 在两次反向传播之间没有清零：它现在是 {passes} "
                                         "次反向传播梯度的累加和（第一次：{first}）。",
    "pitfalls.accumulated.message_anon_many": "{n} 个叶子张量（都是{leaf}）的 .grad 在两次反向传播之间"
                                              "没有清零：每个现在都是 {passes} 次反向传播梯度的累加和"
                                              "（第一次：{first}）。",
    "pitfalls.accumulated.fix": "每次 backward() 之前先清零：{var}.grad = None（或 {var}.grad.zero_()）",
    "pitfalls.accumulated.fix_zero_grad": "每次 backward() 之前调用 {owner}.zero_grad()",
    "pitfalls.accumulated.fix_anon": "每次 backward() 之前把该叶子张量的 .grad 设为 None；"
                                     "为它保留一个变量名，这样才能做到",
    "pitfalls.leaf_made": "{where}创建的叶子张量（{expr}）",
    "pitfalls.leaf_was": "{where}时 {name} 所指的叶子张量",
    "pitfalls.root_at": "{where}求导的张量",
    "pitfalls.root_elsewhere": "{expr}（{where}）",
    # nonscalar-backward
    "pitfalls.nonscalar.message": "{var} 的形状是 {shape}：不带参数的 backward() 只能用于标量"
                                  "（只有一个元素的张量）。",
    "pitfalls.nonscalar.message_noshape": "{var} 不是标量：不带参数的 backward() 只能用于只有一个元素的张量。",
    "pitfalls.nonscalar.fix": "`{var}.sum().backward()`，或 `{var}.backward(torch.ones_like({var}))`——两者完全等价",
    "pitfalls.nonscalar.fix_anon": "对它调用 .sum().backward()，或者给 .backward() 传入一个与它形状相同的"
                                   "梯度（对它调用 torch.ones_like）——两者完全等价",
    # backward-twice
    "pitfalls.twice.message": "再次对 {var} 的计算图调用了 backward()，但之前的 backward()（{first}）"
                              "已经释放了该计算图保存的中间值。",
    "pitfalls.twice.message_nofirst": "再次对 {var} 的计算图调用了 backward()，但之前的 backward() "
                                      "已经释放了该计算图保存的中间值。",
    "pitfalls.twice.fix": "如果确实需要再次反向传播，请在第一次 `backward()`（{first}）中传入 `retain_graph=True`；或者在再次调用 "
                          "`backward()` 之前重新计算 {var}",
    "pitfalls.twice.fix_anon": "如果确实需要再次反向传播，请在第一次 backward()（{first}）中传入 "
                               "retain_graph=True；或者在再次调用 backward() 之前重新计算该张量",
    "pitfalls.twice.fix_nofirst": "在第一次 `backward()` 中传入 `retain_graph=True`，或者在再次调用 `backward()` 之前重新计算 {var}",
    "pitfalls.twice.fix_nofirst_anon": "在第一次 backward() 中传入 retain_graph=True，或者在再次调用 "
                                       "backward() 之前重新计算该张量",
    # leaf-inplace
    "pitfalls.inplace.message": "{var} 是需要梯度的叶子张量；在 autograd 记录计算图时，PyTorch "
                                "不允许对它做原地修改（{how}），否则它的梯度将与它的数值不再对应。",
    "pitfalls.inplace.fix": "把参数更新放在 `with torch.no_grad():` 中进行（例如 `with torch.no_grad(): {var} -= lr * "
                            "{var}.grad`），或者在 `requires_grad_()` 之前先设置好数值",
    "pitfalls.inplace.fix_anon": "把参数更新放在 `with torch.no_grad():` 中进行，或者在 "
                                 "requires_grad_() 之前先设置好数值",
    # saved-modified
    "pitfalls.saved.message": "{var}（形状 {shape}）已被保存用于反向传播，随后这一行对它做了原地修改："
                              "它现在的版本号是 {now}，反向传播需要版本 {expected}。",
    "pitfalls.saved.message_nosite": "{var}（形状 {shape}）被保存用于反向传播，之后又被原地修改 "
                                     "—— 它现在的版本号是 {now}，反向传播需要版本 {expected}。",
    "pitfalls.saved.message_anon": "一个形状为 {shape} 的张量被保存用于反向传播，之后又被原地修改 "
                                   "—— 它现在的版本号是 {now}，反向传播需要版本 {expected}。",
    "pitfalls.saved.via": "{alias} 与 {var} 共享内存，所以修改 {alias} 也就修改了 {var}。",
    "pitfalls.saved.fix": "改用非原地运算（用 `{var} = {var} + ...` 代替 `{var} += ...` 或 "
                          "`{var}.add_(...)`），或者改为修改它的 .clone() 副本",
    "pitfalls.saved.fix_anon": "改用非原地运算（用 + 或 add() 得到新张量，而不是 += 或 add_()），"
                               "或者改为修改它的 .clone() 副本",
    # no-grad-path
    "pitfalls.nograd.message_unknown": "{var} 不需要梯度，也没有 grad_fn：没有可以执行 backward() 的计算图。",
    "pitfalls.nograd.fix_unknown": "让某个输入 `requires_grad=True`，并且不要在 `torch.no_grad()` 中计算、也不要经过 `detach()`",
    "pitfalls.nograd.message_leaves": "{var} 不需要梯度：它完全由不需要梯度的张量计算得到（{names}）。",
    "pitfalls.nograd.fix_leaves": "创建叶子张量时指定 `requires_grad=True`，例如在计算之前调用 `{name}.requires_grad_()`",
    "pitfalls.nograd.message_no_grad": "{var} 不需要梯度：{name} 是在 torch.no_grad() 中计算的"
                                       "（{where}），因此没有记录计算图。",
    "pitfalls.nograd.fix_no_grad": "需要 {name} 的梯度时，请在 `with torch.no_grad():` 之外计算它",
    "pitfalls.nograd.message_detach": "{var} 不需要梯度：{name} 被 detach() 从计算图中分离出来了（{where}）。",
    "pitfalls.nograd.fix_detach": "改用 `detach()` 之前的张量来计算，或者调用 `{name}.requires_grad_()` 以它为起点构建新的计算图",
    # leaf-moved
    "pitfalls.moved.message": "{var} = {call} 使 {var} 变成了那个需要梯度的叶子张量的副本（{grad_fn}）："
                              "{var} 不再是叶子节点，backward() 会把梯度写入原来那个张量的 .grad，"
                              "而 {var}.grad 始终为 None。",
    "pitfalls.moved.fix": "直接在目标设备上、以目标 dtype 创建它（`torch.tensor(..., device=..., "
                          "requires_grad=True)`），或者写成 `{var} = {var}.detach().to(...).requires_grad_()`",
    # data-mutation
    "pitfalls.data.message_backward": "{var}.data 在 {root} 由 {var} 计算出来之后、在 {root} 的 "
                                      "backward()（{backward}）之前被修改了；autograd 看不到通过 .data "
                                      "做的修改，因此梯度可能在没有任何提示的情况下出错。",
    "pitfalls.data.message_alive": "{var}.data 被修改时，{root} 的计算图仍在使用 {var}；autograd "
                                   "看不到通过 .data 做的修改，因此之后的 {root}.backward() "
                                   "可能在没有任何提示的情况下给出错误的梯度。",
    "pitfalls.data.fix": "在 `with torch.no_grad():` 中修改 {var}（这样 autograd 能察觉到），"
                         "或者在修改之后重新计算 {root}",
    # detach-alias
    "pitfalls.detach.message": "{changed} 与 {other} 共享内存（{target} = {source}.detach()，{where}）："
                               "原地修改 {changed} 的同时也修改了 {other}。",
    "pitfalls.detach.fix": "用 `{source}.detach().clone()` 得到独立的副本，或者以非原地的方式修改 {changed}",
    # history-kept and graph-not-needed
    'pitfalls.history.message': '{var} 保留了 {n} 次迭代的 autograd 历史（{nodes} 个反向节点；仍占用的保存张量：{saved}）：每次迭代都把自己的计算图接到 {var} 上，而 {var} 从不求导，所以历史随每一步增长，永远不会释放。',
    'pitfalls.history.message_list': '{var} 保存了 {n} 个张量，每个都带着所在迭代的 autograd 计算图（{nodes} 个反向节点；仍占用的保存张量：{saved}），所以这个列表保留的历史随每一步增长。',
    'pitfalls.history.no_saved': '无，反向传播已释放它们',
    'pitfalls.history.fix': '保存数值而不是计算图：`{fixed}`（`.item()` 或 `float()`；`.detach()` 得到不带历史的张量）',
    'pitfalls.notneeded.message': '{var} 保留了 {n} 次迭代在梯度开启时建立的计算图（{nodes} 个反向节点），其中保存的激活值占 {saved}，但本单元没有对它们调用 backward()：在 {var} 被释放之前，这些内存一直被占用。',
    'pitfalls.notneeded.fix': '在 `with torch.no_grad():`（或 `torch.inference_mode()`）中评估，并只保存数值：`{fixed}`；如果之后确实要 `backward()`，请改为每次迭代各调用一次',
    'pitfalls.notneeded.message_eval': '{model} 处于 eval() 模式，但它的前向计算是在梯度开启时运行的：{var} 保留了一张 {nodes} 个反向节点的计算图，保存的激活值占 {saved}，而这里没有任何代码对它求导。',
    'pitfalls.notneeded.fix_eval': '把评估放在 `with torch.no_grad():`（或 `torch.inference_mode()`）中运行；`eval()` 只改变 dropout 和 batch norm 的行为，并不关闭梯度记录',
}
