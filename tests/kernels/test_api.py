"""kernels.cpu and kernels.cuda are two tables with identical public names and signatures."""
import inspect

import kernels.cpu
import kernels.cuda


def _public(module):
    return {name: obj for name, obj in vars(module).items()
            if not name.startswith("_") and callable(obj) and not inspect.ismodule(obj)
            and getattr(obj, "__module__", "").startswith("kernels")}


def test_same_public_names():
    assert sorted(_public(kernels.cpu)) == sorted(_public(kernels.cuda))


def test_same_signatures():
    cpu, cuda = _public(kernels.cpu), _public(kernels.cuda)
    for name in cpu:
        assert inspect.signature(cpu[name]) == inspect.signature(cuda[name]), name


def test_core_kernels_present():
    names = set(_public(kernels.cpu))
    expected = {"conv2d_forward", "conv2d_backward", "conv_transpose2d_forward", "conv_transpose2d_backward",
                "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
                "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
                "sgd_step", "adam_step", "rmsprop_step", "adagrad_step",
                "softmax_forward", "softmax_backward", "log_softmax_forward", "log_softmax_backward",
                "cross_entropy_forward", "cross_entropy_backward"}
    assert expected <= names, expected - names


def test_optimizer_steps_are_written_once():
    # each <algo>_step of both tables is one `def` in kernels/_optim_steps.py, bound to the backend's loops
    for name in kernels.cpu.optim.__all__:
        cpu, cuda = getattr(kernels.cpu, name), getattr(kernels.cuda, name)
        assert cpu.__func__ is cuda.__func__, name
        assert inspect.getsourcefile(cpu).endswith("_optim_steps.py") and cpu.__name__ == name
        assert cpu.__doc__ and cpu.__doc__ == cuda.__doc__
