"""Named tuples returned by ops such as max(dim) (`torch.return_types.max`)."""
from collections import namedtuple

_types = {}


def return_types(name, values, indices):
    cls = _types.get(name)
    if cls is None:
        cls = _types[name] = namedtuple(name, ["values", "indices"])
    return cls(values, indices)
