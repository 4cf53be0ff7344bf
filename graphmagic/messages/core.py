"""Texts of the magic, options, devices and report frame (see graphmagic.messages)."""

EN: dict[str, str] = {
    "report.header": "{cell} · device {device} · {time}",
    "report.as_written": "as written",
    "report.internal_error": "graphmagic could not finish this part of the report: {error}",
    "finding.where": "{cell} line {line}",
    "finding.times": " ({count} times)",
    "finding.fix": "fix",
    "device.unknown": "'{spec}' is not a device name",
    "device.unsupported": "device type of '{spec}' is not supported by graphmagic",
    "device.unavailable": "'{spec}' is not available on this machine",
    "device.no_index": "'{spec}' does not exist: this machine has {count} such device(s)",
    "device.error": "--device: {problem}. Available: {available}.",
    "device.fallback": "{spec} is not available here; this cell runs on cpu instead ({env}=cpu).",
    "device.mixed_head": "graphmagic: the tensors in your namespace live on these devices:",
    "device.mixed_fix": "Fix: move the odd ones with .to(device), or create everything on one "
                        "device (%%autograd --device ...).",
    "config.none": "No %autograd_config defaults are set.",
    "config.current": "%autograd_config defaults: {options}",
    "config.lang": "language: {lang}",
    "magic.nested": "%%autograd is already tracking this cell.",
    "magic.outside_cell": "%autograd works inside a running cell; to run code under it from a "
                          "program, use shell.run_cell_magic('autograd', OPTIONS, CODE).",
    "report.not_shown": "graphmagic could not show the report: {error}",
    "report.unprintable": "<the exception's message cannot be printed>",
    "report.interrupted": "interrupted (KeyboardInterrupt) while graphmagic was reporting: this report is partial",
    "magic.await_in_loop": "run_cell_magic('autograd', ...) cannot run top-level await while an "
                           "event loop is running (as in a Jupyter kernel); write the cell as "
                           "%%autograd instead.",
    "option.unknown_kind": "unknown finding kind {kinds}; choose from all, {allowed}",
    "option.no_names": "give at least one variable name, e.g. --graph loss,z",
    "option.not_count": "expected a whole number, got {text}",
    "option.negative": "expected 0 or more, got {value}",
    "option.bad_out": "--out needs a variable name of your own, got {value} (not a Python keyword, nor a name IPython needs: In, Out, _, __, ___, _iN, get_ipython, exit, quit, dunder names)",
    "option.unreadable": "cannot read the options {line}: {error}",
}

ZH: dict[str, str] = {
    "report.header": "{cell} · 设备 {device} · {time}",
    "report.as_written": "按代码原样",
    "report.internal_error": "graphmagic 未能完成报告的这一部分：{error}",
    "finding.where": "{cell} 第 {line} 行",
    "finding.times": "（{count} 次）",
    "finding.fix": "修正",
    "device.unknown": "'{spec}' 不是设备名",
    "device.unsupported": "graphmagic 不支持 '{spec}' 这种设备类型",
    "device.unavailable": "本机没有可用的 '{spec}'",
    "device.no_index": "'{spec}' 不存在：本机只有 {count} 个此类设备",
    "device.error": "--device：{problem}。可用的设备：{available}。",
    "device.fallback": "本机没有 {spec}；本单元改在 cpu 上运行（{env}=cpu）。",
    "device.mixed_head": "graphmagic：命名空间中的张量分别位于以下设备：",
    "device.mixed_fix": "修正：用 .to(device) 把不一致的张量移过去，或者把所有张量都创建在同一设备上"
                        "（%%autograd --device ...）。",
    "config.none": "尚未设置 %autograd_config 默认选项。",
    "config.current": "%autograd_config 默认选项：{options}",
    "config.lang": "语言：{lang}",
    "magic.nested": "%%autograd 已经在跟踪这个单元。",
    "magic.outside_cell": "%autograd 只能在正在运行的单元中使用；若要在程序里这样运行代码，"
                          "请用 shell.run_cell_magic('autograd', OPTIONS, CODE)。",
    "report.not_shown": "graphmagic 无法显示报告：{error}",
    "report.unprintable": "<该异常的消息无法打印>",
    "report.interrupted": "graphmagic 生成报告时被中断（KeyboardInterrupt）：此报告不完整",
    "magic.await_in_loop": "事件循环正在运行时（例如在 Jupyter 内核中），run_cell_magic('autograd', ...) "
                           "无法运行顶层 await；请改为把单元写成 %%autograd。",
    "option.unknown_kind": "未知的提示类型 {kinds}；可选：all, {allowed}",
    "option.no_names": "请至少给出一个变量名，例如 --graph loss,z",
    "option.not_count": "需要一个整数，收到的是 {text}",
    "option.negative": "需要 0 或更大的数，收到的是 {value}",
    "option.bad_out": "--out 需要一个你自己的变量名，收到的是 {value}（不能是 Python 关键字，也不能是 IPython 需要的名字：In、Out、_、__、___、_iN、get_ipython、exit、quit 以及双下划线名字）",
    "option.unreadable": "无法读取选项 {line}：{error}",
}
