"""gpunet.compile and nn.Module.compile return what they are given (gpunet runs eagerly), as decorators
too; gpunet.compiler's queries answer as eager PyTorch does; bad arguments are refused as PyTorch does."""
import pytest

import gpunet
import gpunet.nn as nn


def test_compile_returns_the_model_unchanged(device):
    model = nn.Linear(3, 2).to(device)
    assert gpunet.compile(model) is model
    assert gpunet.compile(model, mode="max-autotune", fullgraph=True, dynamic=False) is model
    assert gpunet.compile(model, backend="eager", options={"trace.enabled": False}) is model
    assert gpunet.compile(model, disable=True) is model
    x = gpunet.ones(4, 3, device=device)
    assert gpunet.compile(model)(x).shape == (4, 2)


def test_compile_as_decorator_with_and_without_arguments():
    @gpunet.compile
    def f(x):
        return x * 2

    @gpunet.compile(mode="reduce-overhead")
    def g(x):
        return x + 1

    @gpunet.compile()
    def h(x):
        return x - 1
    one = gpunet.ones(1)
    assert f(one).item() == 2.0 and g(one).item() == 2.0 and h(one).item() == 0
    assert f.__name__ == "f" and g.__name__ == "g"


def test_compile_refuses_what_torch_refuses():
    with pytest.raises(RuntimeError, match="Unrecognized mode=fast, should be one of: default"):
        gpunet.compile(lambda x: x, mode="fast")
    with pytest.raises(RuntimeError, match="Either mode or options can be specified"):
        gpunet.compile(lambda x: x, mode="default", options={})
    with pytest.raises(TypeError, match="a callable function is expected"):
        gpunet.compile(5)
    with pytest.raises(TypeError):
        gpunet.compile(lambda x: x, "max-autotune")  # the options are keyword-only, as in torch
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="Unrecognized mode=fast"):
        torch.compile(lambda x: x, mode="fast")
    with pytest.raises(RuntimeError, match="Either mode or options can be specified"):
        torch.compile(lambda x: x, mode="default", options={})


def test_module_compile_is_in_place_and_changes_nothing(device):
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU()).to(device)
    x = gpunet.randn(2, 3, device=device)
    before = model(x)
    assert model.compile() is None and model.compile(mode="max-autotune") is None
    assert gpunet.equal(model(x), before)
    assert list(model.state_dict()) == ["0.weight", "0.bias"]  # no wrapper, no renamed keys
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        model.compile(mode="fast")


def test_compiler_queries():
    c = gpunet.compiler
    assert c.compile is gpunet.compile  # torch.compiler.compile is torch.compile too
    assert c.is_compiling() is False and c.is_dynamo_compiling() is False and c.is_exporting() is False

    def f(x):
        return x
    assert c.disable(f) is f and c.disable()(f) is f and c.disable(f, reason="debug") is f
    assert c.allow_in_graph(f) is f and c.assume_constant_result(f) is f
    assert c.reset() is None and c.cudagraph_mark_step_begin() is None


def test_signatures_match_torch():
    torch = pytest.importorskip("torch")
    import inspect
    mine = inspect.signature(gpunet.compile).parameters
    theirs = inspect.signature(torch.compile).parameters
    assert list(mine) == list(theirs)
    assert [p.kind for p in mine.values()] == [p.kind for p in theirs.values()]
    for name in ("fullgraph", "dynamic", "backend", "mode", "options", "disable"):
        assert mine[name].default == theirs[name].default, name
