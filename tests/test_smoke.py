from support import run


def test_cell_runs_and_stores_report(ip):
    result = run(ip, "%%autograd --out r\nx = torch.ones(2, requires_grad=True)\n(x * 2).sum()")
    assert result.error_in_exec is None
    assert result.result.item() == 4.0
    report = ip.user_ns["r"]
    assert report.cell == f"In[{result.execution_count}]"
    assert report.device is None
