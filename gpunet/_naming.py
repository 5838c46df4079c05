"""The package name gpunet's reprs and messages print: "gpunet", or "torch" while gpunet stands in for
PyTorch (`gpunet.as_torch()`, `python -m gpunet.run`), so that a program's output reads as under PyTorch."""
package = "gpunet"


def public(name):
    """`name` under the package users see: public("float32") -> "gpunet.float32" or "torch.float32"."""
    return f"{package}.{name}"


def torch_spelling(module_name):
    """gpunet's module name as PyTorch spells it: "gpunet.nn" -> "torch.nn"."""
    return "torch" + module_name[len("gpunet"):] if module_name.split(".")[0] == "gpunet" else module_name
