"""Module.state_dict / load_state_dict and their hooks (a mixin of Module).

state_dict() writes each module's parameters and persistent buffers (detached) under dotted names,
with `_metadata` holding every module's `_version`; load_state_dict() copies values in place under
no_grad (cast to each tensor's dtype and device) and reports missing/unexpected keys as PyTorch does.
Subclasses customise loading through `_load_from_state_dict` (BatchNorm's num_batches_tracked).
"""

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

from gpunet.autograd.grad_mode import no_grad
from gpunet.nn._hooks import _add_hook
from gpunet.nn.parameter import Parameter
from gpunet.tensor import Tensor


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


class ModuleStateMixin:
    """state_dict machinery; expects Module's _parameters, _buffers, _modules and hook dicts."""

    def get_extra_state(self):
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called.")

    def set_extra_state(self, state):
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called.")

    def _has_extra_state(self):
        return type(self).get_extra_state is not ModuleStateMixin.get_extra_state

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """Write this module's own parameters and persistent buffers (not its children's)."""
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        skip = self._non_persistent_buffers_set
        for name, b in self._buffers.items():
            if b is not None and name not in skip:
                destination[prefix + name] = b if keep_vars else b.detach()
        if self._has_extra_state():
            destination[prefix + "_extra_state"] = self.get_extra_state()

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        """An OrderedDict name -> tensor (detached unless keep_vars) of parameters and persistent buffers."""
        if args:  # the deprecated positional form state_dict(destination, prefix, keep_vars)
            destination, prefix, keep_vars = (list(args) + [destination, prefix, keep_vars][len(args) :])[:3]
        if destination is None:
            destination = OrderedDict()
            destination._metadata = OrderedDict()
        meta = getattr(destination, "_metadata", None)
        if meta is not None:
            meta[prefix[:-1]] = {"version": self._version}
        for hook in self._state_dict_pre_hooks.values():
            hook(self, prefix, keep_vars)
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        for hook in self._state_dict_hooks.values():
            result = hook(self, destination, prefix, meta.get(prefix[:-1]) if meta is not None else {})
            if result is not None:
                destination = result
        return destination

    def register_state_dict_pre_hook(self, hook):
        """hook(module, prefix, keep_vars), called before this module's entries are written."""
        return _add_hook(self._state_dict_pre_hooks, hook, False)

    def register_state_dict_post_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata), called after; may edit state_dict in place."""
        return _add_hook(self._state_dict_hooks, hook, False)

    _register_state_dict_hook = register_state_dict_post_hook

    def register_load_state_dict_pre_hook(self, hook):
        """hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)."""
        return _add_hook(self._load_state_dict_pre_hooks, hook, False)

    _register_load_state_dict_pre_hook = register_load_state_dict_pre_hook

    def register_load_state_dict_post_hook(self, hook):
        """hook(module, incompatible_keys); may edit the missing/unexpected lists in place."""
        return _add_hook(self._load_state_dict_post_hooks, hook, False)

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        """Copy this module's own entries from state_dict (keys prefixed by prefix), recording problems."""
        for hook in self._load_state_dict_pre_hooks.values():
            hook(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
        skip = self._non_persistent_buffers_set
        local = [(n, p, True) for n, p in self._parameters.items() if p is not None]
        local += [(n, b, False) for n, b in self._buffers.items() if b is not None and n not in skip]
        assign = local_metadata.get("assign_to_params_buffers", False)
        for name, target, is_param in local:
            key = prefix + name
            if key not in state_dict:
                if strict:
                    missing_keys.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                error_msgs.append(
                    f'While copying the parameter named "{key}", expected torch.Tensor or '
                    f"Tensor-like object from checkpoint but received {type(value)}"
                )
                continue
            if target.ndim == 0 and value.ndim == 1 and value.shape[0] == 1:
                value = value[0]  # checkpoints from before 0-d tensors stored scalars as shape (1,)
            if value.shape != target.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {value.shape} from "
                    f"checkpoint, the shape in current model is {target.shape}."
                )
                continue
            try:
                with no_grad():
                    if assign:
                        self._assign_loaded(name, target, value, is_param)
                    else:
                        target.copy_(value)
            except Exception as ex:
                error_msgs.append(
                    f'While copying the parameter named "{key}", whose dimensions in the model are '
                    f"{target.shape} and whose dimensions in the checkpoint are {value.shape}, an "
                    f"exception occurred : {ex.args}."
                )
        extra_key = prefix + "_extra_state"
        if self._has_extra_state():
            if extra_key in state_dict:
                self.set_extra_state(state_dict[extra_key])
            elif strict:
                missing_keys.append(extra_key)
        elif strict and extra_key in state_dict:
            unexpected_keys.append(extra_key)
        if strict:
            own = {n for n, _, _ in local}
            for key in state_dict:
                if key.startswith(prefix) and key != extra_key:
                    head = key[len(prefix) :].split(".", 1)[0]
                    if head not in self._modules and head not in own:
                        unexpected_keys.append(key)

    def _assign_loaded(self, name, target, value, is_param):
        """load_state_dict(assign=True): keep the loaded tensor object, preserving Parameter-ness."""
        if is_param:
            if not isinstance(value, Parameter):
                value = Parameter(value, requires_grad=target.requires_grad)
            else:
                value.requires_grad_(target.requires_grad)
            self._parameters[name] = value
        else:
            self._buffers[name] = value

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy parameters and buffers from state_dict in place (cast to each tensor's dtype and device).

        strict=True raises on missing or unexpected keys; shape mismatches always raise. Returns
        `_IncompatibleKeys(missing_keys, unexpected_keys)`.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing, unexpected, error_msgs = [], [], []
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)
        if metadata is not None:
            state_dict._metadata = metadata

        def load(module, local_state, prefix):
            local_meta = dict(metadata.get(prefix[:-1], {})) if metadata is not None else {}
            if assign:
                local_meta["assign_to_params_buffers"] = True
            module._load_from_state_dict(
                local_state, prefix, local_meta, True, missing, unexpected, error_msgs
            )
            for name, child in module._modules.items():
                if child is not None:
                    child_prefix = prefix + name + "."
                    load(
                        child,
                        {k: v for k, v in local_state.items() if k.startswith(child_prefix)},
                        child_prefix,
                    )
            incompatible = _IncompatibleKeys(missing, unexpected)
            for hook in module._load_state_dict_post_hooks.values():
                if hook(module, incompatible) is not None:
                    raise RuntimeError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                        "expected to return new values, if incompatible_keys need to be modified, "
                        "it should be done inplace."
                    )

        load(self, state_dict, "")
        if strict:
            if unexpected:
                error_msgs.insert(
                    0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected))
                )
            if missing:
                error_msgs.insert(
                    0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing))
                )
        if error_msgs:
            raise RuntimeError(
                "Error(s) in loading state_dict for {}:\n\t{}".format(
                    type(self).__name__, "\n\t".join(error_msgs)
                )
            )
        return _IncompatibleKeys(missing, unexpected)
