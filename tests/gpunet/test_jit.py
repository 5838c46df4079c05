"""gpunet.jit: TorchScript is refused with a message naming the API; what eager model code calls works."""
import pytest

import gpunet
import gpunet.nn as nn
from gpunet import jit


def test_script_and_trace_give_back_what_they_got():
    model = nn.Linear(2, 2)

    @jit.script
    def double(x):
        return x * 2

    assert jit.script(model) is model and jit.trace(model, gpunet.ones(1, 2)) is model
    assert double(gpunet.ones(2)).tolist() == [2.0, 2.0]


def test_save_load_and_other_names_are_refused():
    model = nn.Linear(2, 2)
    with pytest.raises(NotImplementedError, match="torch.jit.save is not supported by gpunet"):
        jit.save(model, "m.pt")
    with pytest.raises(NotImplementedError, match="torch.jit.load is not supported by gpunet"):
        jit.load("m.pt")
    with pytest.raises(NotImplementedError, match="torch.jit.freeze is not supported by gpunet"):
        jit.freeze(model)
    assert not hasattr(jit, "freeze")  # an AttributeError too: feature checks keep working
    with pytest.raises(NotImplementedError, match="torch.jit.ScriptModule is not supported by gpunet"):
        jit.ScriptModule()
    assert not isinstance(model, jit.ScriptModule)  # the check libraries make works


def test_what_eager_model_code_calls():
    assert jit.is_scripting() is False and jit.is_tracing() is False

    class Block(nn.Module):
        scale: jit.Final[int]

        def __init__(self):
            super().__init__()
            self.scale = 2

        @jit.ignore
        def helper(self, x):
            return x

        @jit.ignore(drop=True)
        def dropped(self, x):
            return x

        @jit.unused
        def unused(self, x):
            return x

        @jit.export
        def exported(self, x):
            return x

        def forward(self, x):
            if not jit.is_scripting():
                x = self.helper(x)
            return jit.annotate(gpunet.Tensor, x * self.scale)

    b = Block()
    x = gpunet.ones(2)
    assert b(x).tolist() == [2.0, 2.0]
    assert b.dropped(x) is x and b.unused(x) is x and b.exported(x) is x


def test_private_names_stay_attribute_errors():
    assert not hasattr(jit, "__wrapped__")  # import machinery and introspection probe such names
    with pytest.raises(AttributeError):
        jit._private_thing


def test_same_eager_answers_as_torch():
    torch = pytest.importorskip("torch")
    assert jit.is_scripting() == torch.jit.is_scripting() and jit.is_tracing() == torch.jit.is_tracing()
    assert gpunet.jit.Final is torch.jit.Final
