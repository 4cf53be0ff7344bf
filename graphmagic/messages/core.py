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
    "magic.body_and_begin": "%%autograd takes its options on the first line only.",
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
    "magic.body_and_begin": "%%autograd 的选项只能写在第一行。",
}
