"""LRScheduler: the base of every learning-rate scheduler (torch.optim.lr_scheduler.LRScheduler).

A scheduler owns a view of `optimizer.param_groups`: it writes `initial_lr` into each group, keeps
`base_lrs` and `last_epoch`, and on every `step()` writes the next lr into `group['lr']`. Most
schedulers are *chainable*: `get_lr()` derives the next lr from the current `group['lr']`, so two
schedulers on one optimizer compose. `step(epoch)` (deprecated) jumps to `epoch` with the closed form
`_get_closed_form_lr()` where a subclass has one.
"""
import types
import warnings

from gpunet.optim.optimizer import Optimizer
from gpunet.tensor import Tensor

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available. "
    "Please open an issue if you are unable to replicate your use case: "
    "https://github.com/pytorch/pytorch/issues/new/choose."
)

_STEP_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate schedule. "
    "See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)

_GET_LR_WARNING = "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."


# ---- helpers shared by the schedulers ------------------------------------------------------------
def _check_optimizer(optimizer):
    """TypeError unless `optimizer` is a gpunet Optimizer (PyTorch's message)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def _copy(value):
    # a Tensor lr is cloned so that the list we hand out never aliases the group's value
    return value.clone() if isinstance(value, Tensor) else value


def _group_values(optimizer, key):
    """[group[key] for each group], Tensors cloned; KeyError if a group lacks key."""
    return [_copy(group[key]) for group in optimizer.param_groups]


def _set_group_value(group, key, value):
    """group[key] = value, filling a Tensor in place so that the optimizer keeps the same object."""
    if isinstance(group[key], Tensor):
        group[key].fill_(float(value))
    else:
        group[key] = value


def _format_param(name, optimizer, param):
    """One value per param group: a list/tuple is checked for length, a scalar is repeated."""
    n = len(optimizer.param_groups)
    if isinstance(param, (list, tuple)):
        if len(param) != n:
            raise ValueError(f"{name} must have the same length as optimizer.param_groups. "
                             f"{name} has {len(param)} values, param_groups has {n}.")
        return [_copy(p) for p in param]
    return [_copy(param) for _ in range(n)]


def _uses_beta1(optimizer):
    """True if momentum lives in betas[0] (Adam family), False for 'momentum' (SGD, RMSprop); ValueError
    if the optimizer has neither (cycle_momentum needs one)."""
    defaults = optimizer.defaults
    if "momentum" not in defaults and "betas" not in defaults:
        raise ValueError("optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
    return "betas" in defaults


def _set_momentum(group, use_beta1, momentum):
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


def _callable_state(fn):
    """State of a user callable for state_dict: its __dict__ for callable objects, None for functions.

    Plain functions and lambdas cannot be saved (nor pickled), exactly as in PyTorch."""
    if fn is None or isinstance(fn, types.FunctionType):
        return None
    return fn.__dict__.copy()


class LRScheduler:
    """Base class of the learning-rate schedulers.

    Subclasses implement `get_lr()` (and optionally `_get_closed_form_lr()`). Constructing a
    scheduler performs an initial step (`last_epoch` -1 -> 0) and overwrites each `group['lr']`.
    Call `optimizer.step()` before `scheduler.step()`.
    """

    _get_lr_called_within_step = False
    _is_initial = False

    def __init__(self, optimizer, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _copy(group["lr"]))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   "when resuming an optimizer")
        self.base_lrs = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self):
        """Reset the step counter and take the constructor's step (which must not move a resumed lr)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    # ---- state -------------------------------------------------------------------------------
    def state_dict(self):
        """Every attribute except the optimizer."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)

    # ---- learning rates ----------------------------------------------------------------------
    def get_last_lr(self):
        """The learning rates of the last step, one per param group (copies, never aliases)."""
        return self._last_lr

    def get_lr(self):
        """The next learning rates; called by step(). Use get_last_lr() to read the current ones."""
        raise NotImplementedError

    def step(self, epoch=None):
        """Advance one epoch (or jump to `epoch`, deprecated) and write the new lrs into the groups."""
        # the optimizer counts its own steps (_step_count), so call order is checked without patching step()
        if self._step_count == 1 and not getattr(self.optimizer, "_step_count", 0):
            warnings.warn(_STEP_ORDER_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch=None):
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._write_lrs(values)

    def _write_lrs(self, values):
        values = list(values)
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__}: computed {len(values)} learning rates for "
                             f"{len(groups)} param groups")
        for group, lr in zip(groups, values):
            _set_group_value(group, "lr", lr)
        self._last_lr = _group_values(self.optimizer, "lr")

    def _warn_get_lr_outside_step(self):
        if not self._get_lr_called_within_step:
            warnings.warn(_GET_LR_WARNING, UserWarning, stacklevel=3)


class _LRScheduler(LRScheduler):
    """Backward-compatible name of LRScheduler (a subclass, so its __name__ stays `_LRScheduler`)."""
