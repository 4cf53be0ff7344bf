"""No false positives: the study notes' cells, the differential corpus and clean training
loops give exactly the findings they should (none, where the code is correct)."""
from __future__ import annotations

import pytest
from support import read_corpus
from support import cell, kinds

# The study notes' cells In[92]..In[101], as written there (run in order, in one shell).
NOTES = [
    "import torch\nimport numpy as np\nx = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)\n"
    "y = torch.tensor([[5., 6.], [7., 8.]], requires_grad=True)#定义 x ，y并启用梯度跟踪\n"
    "out = (x.pow(2)*y).sum()#对x的每个元素平方，再对所有元素求和\nout.backward()#out最好是标量，不然很复杂\n"
    "print(x.grad)#表示OUT对x的梯度\nprint(y.grad)",
    "x = torch.tensor([1, 2])#默认是放在cpu  \nif torch.cuda.is_available():         \n"
    "    device = torch.device('cuda')     \n    y = torch.ones_like(x, device=device)\n"
    "    x = x.to(device)                  \n    z = x + y                         \n"
    "    print(z)                          \n    print(z.to('cpu'), torch.double)  ",
    "X = torch.arange(12, dtype=torch.float32).reshape((3,4))\n"
    "Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])\n"
    "torch.cat((X, Y), dim=0), torch.cat((X, Y), dim=1)",
    "before = id(Y)\nY = Y + X\nid(Y) == before",
    "Z = torch.zeros_like(Y)\nprint('id(Z):', id(Z))\nZ[:] = X + Y\nprint('id(Z):', id(Z))",
    "before = id(Y)\nY += X\nid(Y) == before",
    "from torchviz import make_dot\n# 创建测试计算图\nx = torch.tensor([2.0], requires_grad=True)\n"
    "y = torch.tensor([3.0], requires_grad=True)\nz = x * y                  # MulBackward0\n"
    "w = x + y                  # AddBackward0\nout = z + w * 2            # AddBackward0 (包含两个输入)\n"
    "# 安全可视化计算图\ndot = make_dot(\n    out,  # 输出张量\n    params={#只能输入叶子张量进行重命名\n"
    "        \"叶子x\": x,\n        \"叶子y\": y\n    },\n    show_attrs=True\n)\n"
    "dot.render(\"2_model_visualization\", format=\"svg\")",
    "# 建立叶子节点\nx = torch.tensor([1.0], requires_grad=True)\ny = torch.tensor([3.0])\n"
    "y.requires_grad=True\n\n#创建中间节点\nind_a = x * y*2\nind_b = x + y\n\n#保留一个中间节点的梯度\n"
    "ind_a.retain_grad()\n\n# 使用detach新建新分支\ndet_a=ind_b.detach()\nprint(det_a.requires_grad)#false\n"
    "# 分离出来的张量转换为叶子节点\ndet_a.requires_grad_(True)\n\n#计算最终结果\nz=ind_a*ind_b+ind_b\n"
    "c=det_a*y",
    "#反向传播\nz.backward()  \n\n#验证所有节点的required_grad\n"
    "print(x.requires_grad,y.requires_grad,ind_a.requires_grad,ind_b.requires_grad,z.requires_grad)\n\n"
    "#验证是否是叶子节点\nprint(x.is_leaf,y.is_leaf,ind_a.is_leaf,ind_b.is_leaf,z.is_leaf)\n\n#打印梯度\n"
    "print(x.grad,y.grad)  \nprint(ind_a.grad,ind_b.grad)  # 非叶子节点默认释放，输出 None（除非使用 retain_grad）\n\n"
    "#梯度清零，避免累加\nx.grad.zero_()\ny.grad.zero_()\nind_a.grad.zero_()\n#反向传播\nc.backward()\n"
    "print(det_a.grad,y.grad)\nprint(det_a.is_leaf)",
    "#梯度清零，避免累加\ndet_a.grad.zero_()\nx.grad.zero_()\ny.grad.zero_()\nind_a.grad.zero_()\n\n"
    "#再次经过计算过程\nind_a = x * y*2\nind_a.retain_grad()\nind_b = x + y\nz=ind_a*ind_b+ind_b\n"
    "#再次backward\nz.backward()  \n#打印梯度\nprint(x.grad,y.grad)  \n"
    "print(ind_a.grad,ind_b.grad)  # 非叶子节点默认释放，输出 None（除非使用 retain_grad）\n\n"
    "#梯度清零，避免累加\ndet_a.grad.zero_()\nx.grad.zero_()\ny.grad.zero_()\nind_a.grad.zero_()\n\n"
    "c=det_a*y\n#反向传播\nc.backward()\nprint(det_a.grad,y.grad)\nprint(det_a.is_leaf)",
]


def line_of(body: str, text: str) -> int:
    """Notebook line of the first body line containing ``text`` (the magic line is 1)."""
    return next(i for i, line in enumerate(body.splitlines(), start=2) if text in line)


def test_the_notes_give_only_the_nonleaf_grad_they_demonstrate(ip, tmp_path, monkeypatch, recwarn):
    monkeypatch.chdir(tmp_path)
    found = []
    for body in NOTES:
        result, report = cell(ip, body)
        assert result.error_in_exec is None, body
        found.append(kinds(report))
    read = "print(ind_a.grad,ind_b.grad)"
    assert found == [[]] * 8 + [[("nonleaf-grad", "ind_b", line_of(NOTES[8], read))],
                                [("nonleaf-grad", "ind_b", line_of(NOTES[9], read))]]


# The differential corpus: cells that demonstrate a pitfall give exactly that finding.
CORPUS_EXPECTED = {
    "(x * 3).sum().backward()\nprint(x.grad)": [("grad-accumulated", "x", 4)],
    "det[0] = 5.0": [("detach-alias", "det", 4)],
    "print(ind_a.grad, ind_b.grad)\nx.grad.zero_()": [("nonleaf-grad", "ind_b", 6)],
    "ind_b = x + y\nz = ind_a * ind_b + ind_b\nz.backward()": [("nonleaf-grad", "ind_b", 12)],
    "out = x ** 2\nout.backward()": [("nonscalar-backward", "out", 4)],
    "loss.backward()\nloss.backward()": [("backward-twice", "loss", 5)],
    "leaf += 1": [("leaf-inplace", "leaf", 3)],
}


def test_the_differential_corpus(ip, tmp_path, monkeypatch, recwarn):
    monkeypatch.chdir(tmp_path)
    ip.run_cell("import sys\nimport torch\nfrom torch import nn", store_history=True)
    cells = read_corpus()
    matched = set()
    for source, raises in cells:
        result, report = cell(ip, source, "--device cpu")
        assert (result.error_in_exec is not None) == raises, source
        expected = [v for k, v in CORPUS_EXPECTED.items() if k in source]
        matched.update(k for k in CORPUS_EXPECTED if k in source)
        assert sorted(kinds(report)) == (expected[0] if expected else []), source
    assert matched == set(CORPUS_EXPECTED)


LOOPS = {
    "zero_grad first": "opt.zero_grad()\n    loss = nn.functional.mse_loss(model(data), target)\n"
                       "    loss.backward()\n    opt.step()",
    "zero_grad last": "loss = nn.functional.mse_loss(model(data), target)\n    loss.backward()\n"
                      "    opt.step()\n    opt.zero_grad()",
    "keep zeros": "opt.zero_grad(set_to_none=False)\n    loss = ((model(data) - target) ** 2).mean()\n"
                  "    loss.backward()\n    opt.step()",
    "manual sgd": "loss = ((model(data) - target) ** 2).mean()\n    loss.backward()\n"
                  "    with torch.no_grad():\n        for p in model.parameters():\n"
                  "            p -= 0.1 * p.grad\n    model.zero_grad()",
    "manual zero_": "loss = ((model(data) - target) ** 2).mean()\n    loss.backward()\n"
                    "    with torch.no_grad():\n        for p in model.parameters():\n"
                    "            p.sub_(0.1 * p.grad)\n            p.grad.zero_()",
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_clean_training_loops(ip, name):
    setup = ("from torch import nn\ntorch.manual_seed(0)\n"
             "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))\n"
             "opt = torch.optim.Adam(model.parameters(), lr=0.01)\n"
             "data, target = torch.randn(16, 4), torch.randn(16, 1)\n")
    loop = f"for step in range(5):\n    {LOOPS[name]}"
    result, report = cell(ip, setup + loop)
    assert result.error_in_exec is None and report.findings == []
    result, report = cell(ip, loop)  # the next cell trains on
    assert result.error_in_exec is None and report.findings == []
    assert ip.user_ns["loss"].item() > 0
