"""Texts of the graph area (see graphmagic.messages)."""

EN: dict[str, str] = {
    "graph.heading": "autograd graph · roots: {roots}",
    "graph.counts": "{ops} ops, {tensors} tensors",
    "graph.output": "output{index}",
    "graph.leaf": "leaf",
    "graph.nonleaf": "non-leaf",
    "graph.root": "root",
    "graph.unnamed": "(unnamed)",
    "graph.grad_values": "grad {values}",
    "graph.grad_stats": "grad {shape} mean {mean} min {min} max {max}",
    "graph.grad_shape": "grad {shape} {dtype}",
    "graph.grad_none": "grad None",
    "graph.grad_dropped": "grad not kept (non-leaf; .retain_grad() keeps it)",
    "graph.detached_from": "detached from {name}",
    "graph.copy": "one tensor drawn once per use ({copy}/{copies})",
    "graph.saved": "saved {name}: {value}",
    "graph.saved_bytes": "holds {size} saved for backward()",
    "graph.saved_freed": "saved {name}: freed by backward()",
    "graph.saved_hooked": "(behind a saved-tensor hook, not read)",
    "graph.group_title": "⋯ {ops} ops and {tensors} tensors collapsed",
    "graph.group_ops": "⋯ {ops} ops collapsed",
    "graph.group_repeat": "a block of {ops} ops repeated ×{repeat}",
    "graph.group_named": "named inside: {names}",
    "graph.more_rows": "… {count} more tensors",
    "graph.legend_leaf": "leaf tensor",
    "graph.legend_nonleaf": "non-leaf tensor",
    "graph.legend_root": "root (thick border)",
    "graph.legend_op": "op (backward node)",
    "graph.legend_detached": "detached / no grad",
    "graph.legend_group": "collapsed group",
    "graph.legend_arrows": "Arrows show the forward pass: data flows from inputs through ops "
                           "to outputs. backward() sends gradients against the arrows, into "
                           "the leaves' .grad. A dashed op has had its saved tensors freed by "
                           "backward().",
    "graph.collapsed": "{hidden} of {total} nodes are collapsed into {groups} group(s): the graph "
                       "has more than --max-nodes {max_nodes}. --max-nodes 0 draws everything; "
                       "--graph NAME draws the graph of one tensor.",
    "graph.truncated": "This graph is deeper than graphmagic walks: it drew the {count} backward "
                       "nodes nearest the roots; the ops at the top edge have more inputs. (With "
                       "PyTorch 2.13, walking further would make freeing the graph recursive, which "
                       "can overflow the stack.)",
    "graph.freed": "backward() has run: the saved tensors of the dashed ops are freed, so a second "
                   "backward() through them needs retain_graph=True on the first.",
    "graph.unknown_root": "--graph {name}: there is no tensor named {name} after this cell.",
    "graph.root_no_grad": "--graph {name}: {name} does not require grad, so it has no autograd graph.",
    "graph.no_dot": "The autograd graph needs Graphviz's 'dot' program, which was not found on "
                    "PATH. Install Graphviz, then restart the kernel:\n"
                    "  Debian/Ubuntu: sudo apt-get install graphviz fonts-noto-cjk\n"
                    "  macOS (Homebrew): brew install graphviz\n"
                    "  conda: conda install -c conda-forge graphviz\n"
                    "  Windows: winget install graphviz (or choco install graphviz), then add "
                    "its bin folder to PATH\n"
                    "The graph's DOT source is below.",
    "graph.dot_failed": "Graphviz's dot could not draw the graph: {error}",
    "graph.dot_timeout": "Graphviz's dot did not finish within {seconds} s. Try a smaller "
                         "--max-nodes (0 draws everything) or --graph NAME.",
    "graph.source_heading": "DOT source",
    "graph.save_format": "cannot save {path}: use one of these suffixes: {formats}",
    "graph.fold_title": "⋯ {count} more branches like these",
    "graph.fold_ops": "each the same {ops} ops as the branches beside",
    "graph.alt": "picture of the autograd graph of {roots}",
    "graph.legend_more": "how to read it",
    "graph.tall": "A tall graph: its box opens at the roots (bottom); scroll up for the inputs.",
    "graph.torchviz_import": "--engine torchviz: torchviz could not be imported ({error}).",
    "graph.torchviz_recursion": "--engine torchviz: torchviz.make_dot ran into Python's "
                                "recursion limit on this deep graph; the default engine draws it.",
    "graph.torchviz_after_backward": "--engine torchviz: torchviz.make_dot cannot show saved "
                                     "tensors or attributes after backward() (it raises "
                                     "RuntimeError), so they are left out; the default engine "
                                     "shows them as freed.",
    "graph.torchviz_failed": "--engine torchviz: torchviz.make_dot failed: {error}",
    "graph.torchviz_freed": "--engine torchviz: torchviz.make_dot reads the values this graph "
                            "saved, and backward() has freed them (it raises RuntimeError).",
    "graph.torchviz_fallback": "torchviz could not draw this graph: graphmagic's own engine drew "
                               "it.",
    "graph.torchviz_gone": "--engine torchviz: torchviz draws only tensors that still exist, and "
                           "a tensor this cell differentiated is gone after its backward(): "
                           "graphmagic's own engine drew the graph from what it captured at the "
                           "call.",
    "graph.former": "{name} (before line {line})",
    "graph.former_cell": "{name} (an earlier value)",
}

ZH: dict[str, str] = {
    "graph.heading": "自动求导计算图 · 根：{roots}",
    "graph.counts": "{ops} 个运算，{tensors} 个张量",
    "graph.output": "输出{index}",
    "graph.leaf": "叶子节点",
    "graph.nonleaf": "非叶子节点",
    "graph.root": "根",
    "graph.unnamed": "（未命名）",
    "graph.grad_values": "grad {values}",
    "graph.grad_stats": "grad {shape} 均值 {mean} 最小 {min} 最大 {max}",
    "graph.grad_shape": "grad {shape} {dtype}",
    "graph.grad_none": "grad 为 None",
    "graph.grad_dropped": "grad 未保留（非叶子节点；调用 .retain_grad() 可保留）",
    "graph.detached_from": "由 {name} detach 得到",
    "graph.copy": "同一个张量，每处使用各画一次（{copy}/{copies}）",
    "graph.saved": "保存的 {name}：{value}",
    "graph.saved_bytes": "为 backward() 保存了 {size}",
    "graph.saved_freed": "保存的 {name}：已被 backward() 释放",
    "graph.saved_hooked": "（位于 saved-tensor 钩子之后，未读取）",
    "graph.group_title": "⋯ 折叠了 {ops} 个运算和 {tensors} 个张量",
    "graph.group_ops": "⋯ 折叠了 {ops} 个运算",
    "graph.group_repeat": "由 {ops} 个运算组成的块重复 ×{repeat}",
    "graph.group_named": "其中有名字的：{names}",
    "graph.more_rows": "… 另有 {count} 个张量",
    "graph.legend_leaf": "叶子张量",
    "graph.legend_nonleaf": "非叶子张量",
    "graph.legend_root": "根（粗边框）",
    "graph.legend_op": "运算（反向节点）",
    "graph.legend_detached": "已分离 / 不求梯度",
    "graph.legend_group": "折叠的组",
    "graph.legend_arrows": "箭头表示前向传播：数据从输入经过运算流向输出。backward() 让梯度逆着箭头"
                           "方向传播，累积到叶子节点的 .grad 中。虚线边框的运算表示其保存的张量"
                           "已被 backward() 释放。",
    "graph.collapsed": "共 {total} 个节点，其中 {hidden} 个被折叠成 {groups} 个组：计算图超过了 "
                       "--max-nodes {max_nodes}。--max-nodes 0 画出全部节点；--graph 名字 只画"
                       "某一个张量的计算图。",
    "graph.truncated": "这张图比 graphmagic 遍历的范围更深：这里画出了离根最近的 {count} 个反向节点；"
                       "最上边缘的运算还有更多输入。（在 PyTorch 2.13 中，继续遍历会让释放计算图变成递归，"
                       "可能导致栈溢出。）",
    "graph.freed": "backward() 已执行：虚线运算保存的张量已被释放，若要再次通过它们调用 "
                   "backward()，第一次调用时需要 retain_graph=True。",
    "graph.unknown_root": "--graph {name}：本单元执行后没有名为 {name} 的张量。",
    "graph.root_no_grad": "--graph {name}：{name} 不需要梯度，因此没有自动求导计算图。",
    "graph.no_dot": "画自动求导计算图需要 Graphviz 的 dot 程序，但在 PATH 中没有找到。"
                    "请安装 Graphviz，然后重启内核：\n"
                    "  Debian/Ubuntu：sudo apt-get install graphviz fonts-noto-cjk\n"
                    "  macOS（Homebrew）：brew install graphviz\n"
                    "  conda：conda install -c conda-forge graphviz\n"
                    "  Windows：winget install graphviz（或 choco install graphviz），"
                    "然后把它的 bin 目录加入 PATH\n"
                    "下面是计算图的 DOT 源码。",
    "graph.dot_failed": "Graphviz 的 dot 无法画出这张图：{error}",
    "graph.dot_timeout": "Graphviz 的 dot 在 {seconds} 秒内没有完成。请试试更小的 --max-nodes"
                         "（0 表示画出全部）或 --graph 名字。",
    "graph.source_heading": "DOT 源码",
    "graph.save_format": "无法保存 {path}：请使用以下后缀之一：{formats}",
    "graph.fold_title": "⋯ 另有 {count} 个同样的分支",
    "graph.fold_ops": "每个都与旁边画出的分支相同（{ops} 个运算）",
    "graph.alt": "{roots} 的自动求导计算图（图片）",
    "graph.legend_more": "怎么读这张图",
    "graph.tall": "这张图很高：框内先显示根（底部）；向上滚动可看到输入。",
    "graph.torchviz_import": "--engine torchviz：无法导入 torchviz（{error}）。",
    "graph.torchviz_recursion": "--engine torchviz：torchviz.make_dot 在这张很深的图上超过了 "
                                "Python 的递归深度限制；默认引擎可以画出它。",
    "graph.torchviz_after_backward": "--engine torchviz：backward() 之后 torchviz.make_dot "
                                     "无法显示保存的张量或属性（会抛出 RuntimeError），因此省略了"
                                     "它们；默认引擎会把它们显示为已释放。",
    "graph.torchviz_failed": "--engine torchviz：torchviz.make_dot 失败：{error}",
    "graph.torchviz_freed": "--engine torchviz：torchviz.make_dot 要读取这张图保存的值，"
                            "而 backward() 已经释放了它们（会抛出 RuntimeError）。",
    "graph.torchviz_fallback": "torchviz 无法画出这张图：改由 graphmagic 自己的引擎画出。",
    "graph.torchviz_gone": "--engine torchviz：torchviz 只能画出仍然存在的张量，而本单元求导的某个"
                           "张量在 backward() 之后已不存在：graphmagic 自己的引擎根据调用时记录的"
                           "内容画出了这张图。",
    "graph.former": "{name}（第 {line} 行之前）",
    "graph.former_cell": "{name}（较早的值）",
}
