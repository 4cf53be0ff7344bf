"""Write demo.ipynb: every lesson of the study notes as a %%autograd cell.

Run from the repository root: ``python scripts/make_demo.py`` (the notebook is committed;
regenerate it after editing the cells here).
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

RAISES = {"tags": ["raises-exception"]}

CELLS = [
    ("md", """# graphmagic demo: the autograd lessons, shown automatically

Each `%%autograd` cell runs exactly as a plain cell would, then graphmagic adds one report:
the autograd graph (计算图) with every node named after your variables, a table of the tensors
the cell created or changed (ids, versions, shared storage, memory), the memory figures, and
findings for autograd pitfalls with the cell line and the fix.

The lessons follow the study notes: gradients (梯度), devices (GPU/CPU), concatenation
(张量连结), memory (节省内存) and the computation graph (计算图)."""),
    ("code", """%load_ext graphmagic
import torch
import numpy as np"""),

    ("md", """## 1. Gradient of a scalar output (标量)

If `out = f(x)` is a scalar, `out.backward()` computes ∂out/∂x and stores it in `x.grad`.
Here `out = Σ x²·y`, so `x.grad = 2·x·y` and `y.grad = x²`."""),
    ("code", """%%autograd
x = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)
y = torch.tensor([[5., 6.], [7., 8.]], requires_grad=True)  # 启用梯度跟踪
out = (x.pow(2) * y).sum()  # square each element of x, times y, then sum
out.backward()              # out is a scalar, so no argument is needed
print(x.grad)               # ∂out/∂x
print(y.grad)"""),

    ("md", """## 2. A non-scalar output needs `gradient` (非标量)

When `out` is a matrix, `out.backward()` refuses to guess the direction: it raises. This cell
is meant to fail (it carries the `raises-exception` tag), and graphmagic names the fix."""),
    ("code", """%%autograd
x = torch.tensor([[1., 2.], [3., 4.]], requires_grad=True)
y = torch.tensor([[5., 6.], [7., 8.]], requires_grad=True)
out = x.pow(2) * y   # a 2x2 matrix, not a scalar
out.backward()""", RAISES),
    ("md", """Give a tensor of `out`'s shape (the `grad_outputs`): the weight of each element in the
final loss. `torch.ones_like(out)` weighs every element 1, which is the same as calling
`backward()` on `out.sum()`."""),
    ("code", """%%autograd
out = x.pow(2) * y
out.backward(torch.ones_like(out))  # gradient = ones: every element counts once
g_ones = x.grad.clone()

x.grad.zero_()                      # clear before the second backward (see lesson 7)
y.grad.zero_()
out = x.pow(2) * y
out.sum().backward()                # the same gradient through a scalar
print(g_ones)
print(x.grad)
torch.equal(g_ones, x.grad)"""),

    ("md", """## 3. Devices: data on the GPU or the CPU

`--device auto` runs the cell with the best available accelerator as the default device (a GPU
when there is one, else the CPU, so this notebook runs anywhere); the report names the device.
`z.to('cpu', torch.double)` moves *and* converts in one call (the notes printed `torch.double`
beside `z.to('cpu')`, which converts nothing)."""),
    ("code", """%%autograd --device auto
x = torch.tensor([1, 2])               # lands on the cell's device
device = x.device
y = torch.ones_like(x, device=device)
z = x + y
print(z)
print(z.to('cpu', torch.double))       # back on the CPU, as float64"""),

    ("md", """## 4. Concatenation (张量连结)

`torch.cat` takes a list of tensors and the axis to join along: `dim=0` stacks rows,
`dim=1` joins columns."""),
    ("code", """%%autograd
X = torch.arange(12, dtype=torch.float32).reshape((3, 4))
Y = torch.tensor([[2.0, 1, 4, 3], [1, 2, 3, 4], [4, 3, 2, 1]])
torch.cat((X, Y), dim=0), torch.cat((X, Y), dim=1)"""),

    ("md", """## 5. Saving memory (节省内存)

`Y = Y + X` computes a new tensor in new memory and rebinds the name `Y` to it: the id changes,
and the variables table shows `Y` as *rebound*."""),
    ("code", """%%autograd
before = id(Y)
Y = Y + X
id(Y) == before"""),
    ("md", """In-place updates keep the address and overwrite the values (原地更新): slice assignment
`Z[:] = <expression>` and augmented assignment `+=`. The table shows them as *in-place*."""),
    ("code", """%%autograd
Z = torch.zeros_like(Y)
print('id(Z):', id(Z))"""),
    ("code", """%%autograd
Z[:] = X + Y
print('id(Z):', id(Z))"""),
    ("code", """%%autograd
before = id(Y)
Y += X
id(Y) == before"""),

    ("md", """## 6. The computation graph (计算图)

Autograd records every operation at run time in a directed acyclic graph (DAG, 有向无环图):

- **leaf nodes (叶子节点)**: tensors the user created with `requires_grad=True`; their
  gradient stays in `.grad`; `is_leaf` is `True`;
- **non-leaf nodes (非叶子节点)**: intermediate results; their gradient is freed after
  `backward()` unless `retain_grad()` keeps it;
- **edges (边)**: the operations (`MulBackward0`, `AddBackward0`, ...); gradients flow against
  their direction.

The notes drew this with `torchviz.make_dot`; `%%autograd` draws it with every node named
(`--engine torchviz` gives the classic torchviz picture)."""),
    ("code", """%%autograd
x = torch.tensor([2.0], requires_grad=True)
y = torch.tensor([3.0], requires_grad=True)
z = x * y          # MulBackward0
w = x + y          # AddBackward0
out = z + w * 2    # AddBackward0 with two inputs"""),
    ("md", """The same graph after `backward()`: the leaves now show their gradients, and `--saved`
lists what each op saved for the backward pass, drawn as freed once `backward()` has used it
(torchviz's `show_saved=True` raises at this point)."""),
    ("code", """%%autograd --saved
out.backward()
x.grad, y.grad"""),
    ("md", """For comparison, the classic `torchviz.make_dot` picture of the same graph (it can only
name the leaves)."""),
    ("code", """%%autograd --engine torchviz
out2 = z + w * 2"""),

    ("md", """`backward()` needs a path from the tensor to leaves that require grad. Next: leaves,
intermediate nodes, a retained gradient (`retain_grad`), a branch cut off with `detach()`
and turned into a new leaf with `requires_grad_(True)`."""),
    ("code", """%%autograd
# leaves
x = torch.tensor([1.0], requires_grad=True)
y = torch.tensor([3.0])
y.requires_grad = True

# intermediate nodes
ind_a = x * y * 2
ind_b = x + y

ind_a.retain_grad()        # keep this intermediate node's gradient

det_a = ind_b.detach()     # a new branch, cut from the graph
print(det_a.requires_grad) # False
det_a.requires_grad_(True) # the detached tensor becomes a new leaf

z = ind_a * ind_b + ind_b
c = det_a * y"""),
    ("md", """Backward from `z` and from `c`. Reading `ind_b.grad` gives `None`: a non-leaf without
`retain_grad()` keeps no gradient, and PyTorch warns; graphmagic turns that warning into a
finding with the line and the fix."""),
    ("code", """%%autograd
z.backward()

print(x.requires_grad, y.requires_grad, ind_a.requires_grad, ind_b.requires_grad, z.requires_grad)
print(x.is_leaf, y.is_leaf, ind_a.is_leaf, ind_b.is_leaf, z.is_leaf)

print(x.grad, y.grad)
print(ind_a.grad, ind_b.grad)  # non-leaf gradients are freed: None unless retain_grad()

# zero the gradients so they do not add up (梯度清零)
x.grad.zero_()
y.grad.zero_()
ind_a.grad.zero_()
c.backward()
print(det_a.grad, y.grad)
print(det_a.is_leaf)"""),

    ("md", """## 7. Computing the gradients again: zero first (梯度累积与清零)

Gradients accumulate in the leaves' `.grad`. To compute them again, zero them, then run the
forward computation again (in a training loop: `optimizer.zero_grad()` every step)."""),
    ("code", """%%autograd
det_a.grad.zero_()
x.grad.zero_()
y.grad.zero_()
ind_a.grad.zero_()

# the forward computation again
ind_a = x * y * 2
ind_a.retain_grad()
ind_b = x + y
z = ind_a * ind_b + ind_b
z.backward()
print(x.grad, y.grad)
print(ind_a.grad, ind_b.grad)

det_a.grad.zero_()
x.grad.zero_()
y.grad.zero_()
ind_a.grad.zero_()

c = det_a * y
c.backward()
print(det_a.grad, y.grad)
print(det_a.is_leaf)"""),
    ("md", """Forgetting to zero: two backward passes add up, so `w.grad` is twice the true gradient."""),
    ("code", """%%autograd
w = torch.tensor([1.0, 2.0], requires_grad=True)
for step in range(2):
    loss = (w * 3).sum()
    loss.backward()   # no zero_grad(): the gradients accumulate
print(w.grad)         # tensor([6., 6.]), not tensor([3., 3.])"""),

    ("md", """## 8. In-place operations on leaves (原位操作的限制)

An in-place operation on a leaf that requires grad is refused (this cell is meant to fail)..."""),
    ("code", """%%autograd
w = torch.tensor([1.0, 2.0], requires_grad=True)
w += 1""", RAISES),
    ("md", """...while `w.data += 1` slips past autograd: the gradient below is computed from the
changed values (`2·(w+1)`), silently."""),
    ("code", """%%autograd
w = torch.tensor([1.0, 2.0], requires_grad=True)
loss = (w ** 2).sum()
w.data += 1           # changes w behind autograd's back
loss.backward()
print(w.grad)         # tensor([4., 6.]), not the true tensor([2., 4.])"""),

    ("md", """## 9. `torch.no_grad()` versus `detach()`

- `with torch.no_grad():` disables graph building for the whole block (like
  `torch.set_grad_enabled(False)`): results do not require grad, nothing is recorded.
- `b = a.detach()` returns a tensor that **shares `a`'s memory** (same storage) but is cut
  from the graph: changing one changes the other; `requires_grad` is `False` until you set it,
  which makes it a new leaf."""),
    ("code", """%%autograd
a = torch.tensor([1.0, 2.0], requires_grad=True)
with torch.no_grad():
    doubled = a * 2        # no graph is recorded here
b = a.detach()             # same storage as a, no graph
b[0] = 10.0                # ... so a changes too
print(doubled.requires_grad, b.requires_grad, a)
b.requires_grad_(True)     # b becomes a new leaf
print(b.is_leaf)"""),
    ("md", """A result computed under `no_grad` has no path back to `a`, so `backward()` on it fails
(meant to fail)."""),
    ("code", """%%autograd
doubled.sum().backward()""", RAISES),

    ("md", """## 10. More pitfalls, each named with its variable, line and fix

A second `backward()` through a graph whose saved tensors the first one freed (meant to fail):"""),
    ("code", """%%autograd
w = torch.tensor([2.0], requires_grad=True)
loss = (w.exp() * 3).sum()
loss.backward()
loss.backward()""", RAISES),
    ("md", """Changing, in place, a tensor that autograd saved for the backward pass (meant to fail):"""),
    ("code", """%%autograd
x = torch.ones(2, requires_grad=True)
h = x.exp()        # exp saves its output for backward
h.add_(1)          # ... which this changes
h.sum().backward()""", RAISES),
    ("md", """Moving a leaf (`x = x.to(...)`, `.cuda()`, `.double()`) makes `x` a non-leaf: its `.grad`
stays `None`. Create it on the device instead."""),
    ("code", """%%autograd
x = torch.ones(2, requires_grad=True)
x = x.double()
(x * 2).sum().backward()
print(x.is_leaf, x.grad)"""),

    ("md", """## 11. Memory, line by line

`--trace` follows the cell line by line: the exact peak of tensor bytes and which line
allocated it (slower; the default CPU figure is the process's resident memory)."""),
    ("code", """%%autograd --trace
t = torch.empty(4 * 2**20)   # 16 MiB
t.fill_(1.0)
total = t.sum()
del t"""),

    ("md", """## 12. Outside the magic, and in Chinese

`graphmagic.graph(...)` draws any tensor's graph in a script or notebook (`.save("g.png")`
writes a file). `%autograd_config --lang zh` switches graphmagic's texts to Chinese."""),
    ("code", """import graphmagic
a = torch.tensor([1.0, 2.0], requires_grad=True)
loss = (a * a).sum()
graphmagic.graph(loss, names={"a": a, "loss": loss})"""),
    ("code", """%autograd_config --lang zh"""),
    ("code", """%%autograd
ind_a = a * 2
ind_a.sum().backward()
print(ind_a.grad)"""),
    ("code", """%autograd_config --lang en"""),

    ("md", """## What autograd keeps

PyTorch's FAQ opens with *Don't accumulate history across your training loop*: a tensor that
requires grad keeps its whole graph alive, and `total_loss += loss` makes `total_loss` such a
tensor, holding every iteration's graph. The memory part of the report says how much the graphs
your variables keep still hold (backward nodes, saved tensors), and the finding gives the fix."""),
    ("code", """torch.manual_seed(0)
F = torch.nn.functional
model = torch.nn.Sequential(torch.nn.Linear(512, 2048), torch.nn.ReLU(), torch.nn.Linear(2048, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
batches = [(torch.randn(256, 512), torch.randint(0, 10, (256,))) for _ in range(10)]"""),
    ("code", """%%autograd --no-graph
total_loss = 0
for xb, yb in batches:
    opt.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    total_loss += loss      # keeps this step's graph: history-kept"""),
    ("md", """The fix keeps a number: `.item()` (or `float(loss)`; `loss.detach()` keeps a tensor without
history). `total_loss` is then a float and no graph outlives the loop."""),
    ("code", """%%autograd --no-graph
total_loss = 0
for xb, yb in batches:
    opt.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    opt.step()
    total_loss += loss.item()"""),
    ("md", """A validation loop without `torch.no_grad()` builds a graph for every batch and, through
`val_loss`, keeps them all, with the activations the ops saved for a backward pass that never
comes: see *Autograd graphs your variables keep* in the memory part (the ReLU outputs, 2 MiB a
batch) and the `graph-not-needed` finding."""),
    ("code", """%%autograd --no-graph
val_loss = 0
for xb, yb in batches:
    val_loss += F.cross_entropy(model(xb), yb)"""),
    ("md", """Under `torch.no_grad()` no graph is recorded: the same loop keeps nothing, and the memory
held by graphs drops back to what `loss` keeps (nodes only, its saved tensors freed by
`backward()`)."""),
    ("code", """%%autograd --no-graph
val_loss = 0
with torch.no_grad():
    for xb, yb in batches:
        val_loss += F.cross_entropy(model(xb), yb).item()"""),

    ("md", """## Gradient flow

After a cell that ran `backward()`, the report lists the parameters that got gradients, module
by module, with the norm of each gradient and its largest element, drawn as bars on a log scale
(the picture people copy "plot_grad_flow" snippets for). A deep stack of sigmoids shows the
gradients shrinking towards the input; a layer the forward forgets gets no gradient at all
(`unused-parameter`)."""),
    ("code", """torch.manual_seed(0)
class Deep(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(16, 16) for _ in range(6))
        self.out = torch.nn.Linear(16, 1)
        self.aux = torch.nn.Linear(16, 1)   # an extra head the forward never uses
    def forward(self, x):
        for layer in self.layers:
            x = torch.sigmoid(layer(x))
        return self.out(x)

deep = Deep()
opt = torch.optim.SGD(deep.parameters(), lr=0.1)
data, target = torch.randn(64, 16), torch.randn(64, 1)"""),
    ("code", """%%autograd --no-graph
opt.zero_grad()
loss = F.mse_loss(deep(data), target)
loss.backward()
opt.step()"""),
    ("md", """A NaN gradient from `sqrt` at 0: `torch.where` picks the safe branch in the forward, but
backward goes through both branches, and the derivative of `sqrt` at 0 is infinite (0 × ∞ =
NaN). The finding names the tensors whose gradient holds NaN and suggests `--anomaly`."""),
    ("code", """%%autograd
x = torch.tensor([0., 1., 4.], requires_grad=True)
r = torch.where(x > 0, x.sqrt(), torch.zeros_like(x))
r.sum().backward()
x.grad"""),
    ("md", """With `--anomaly` the cell runs under PyTorch's anomaly detection: `backward()` stops at the
first op that returns NaN (so this cell is meant to fail, as it would with
`torch.autograd.set_detect_anomaly(True)` in a plain cell), and the finding names the op and the
cell line that made it."""),
    ("code", """%%autograd --anomaly
x = torch.tensor([0., 1., 4.], requires_grad=True)
r = torch.where(x > 0, x.sqrt(), torch.zeros_like(x))
r.sum().backward()""", RAISES),
    ("md", """The fix makes the input of `sqrt` safe too, not only its output: no NaN, `x.grad[0]` is 0."""),
    ("code", """%%autograd
x = torch.tensor([0., 1., 4.], requires_grad=True)
r = torch.where(x > 0, torch.where(x > 0, x, 1).sqrt(), torch.zeros_like(x))
r.sum().backward()
x.grad"""),

    ("md", """## Unnamed backward and custom Function

The autograd chapters' most common idiom differentiates a tensor that has no name:
`(x * x).sum().backward()`. The graph's root is that expression, as written; graphmagic
captures its graph at the `backward()` call (the tensor is gone right after it), holding no
tensor alive."""),
    ("code", """%%autograd
x = torch.arange(4.0, requires_grad=True)
(x * x).sum().backward()
x.grad"""),
    ("md", """A custom `torch.autograd.Function` is drawn under its own class name. With `--saved`, its
node lists what `ctx.save_for_backward` kept, marked freed: the backward pass released it."""),
    ("code", """class Sq(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, grad):
        a, = ctx.saved_tensors
        return 2 * a * grad"""),
    ("code", """%%autograd --saved
z = torch.tensor([1., 2., 3.], requires_grad=True)
Sq.apply(z).sum().backward()
z.grad"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text, *meta in CELLS:
        make = new_markdown_cell if kind == "md" else new_code_cell
        cell = make(text)
        if meta:
            cell.metadata.update({k: list(v) for k, v in meta[0].items()})
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"  # stable ids: regenerating gives the same file
    return nb


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "demo.ipynb"
    nb = build()
    nbformat.validate(nb)
    nbformat.write(nb, target)
    print(f"wrote {target} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
