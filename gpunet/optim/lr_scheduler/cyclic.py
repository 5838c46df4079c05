"""CyclicLR: cyclical learning rates between base_lr and max_lr (Smith, 2017), stepped every batch."""
import math
from functools import partial

from gpunet.optim.lr_scheduler.base import (LRScheduler, _callable_state, _check_optimizer, _format_param,
                                            _set_group_value, _set_momentum, _uses_beta1)

_MODES = ("triangular", "triangular2", "exp_range")


def _triangular_scale(x):
    return 1.0


def _triangular2_scale(x):
    return 1 / (2.0 ** (x - 1))


def _exp_range_scale(gamma, x):
    return gamma ** x


class CyclicLR(LRScheduler):
    """Triangular cycles of step_size_up + step_size_down iterations between base_lr and max_lr.

    mode 'triangular' keeps the amplitude, 'triangular2' halves it every cycle, 'exp_range' scales it
    by gamma ** iteration; a custom scale_fn(x) (x = cycle number or iteration, per scale_mode)
    replaces mode. With cycle_momentum, group['momentum'] (or betas[0]) moves inversely between
    max_momentum and base_momentum.
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                 gamma=1.0, scale_fn=None, scale_mode="cycle", cycle_momentum=True, base_momentum=0.8,
                 max_momentum=0.9, last_epoch=-1):
        _check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = _format_param("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                _set_group_value(group, "lr", lr)
        self.max_lrs = _format_param("max_lr", optimizer, max_lr)

        step_size_up = float(step_size_up)
        step_size_down = float(step_size_down) if step_size_down is not None else step_size_up
        self.total_size = step_size_up + step_size_down
        self.step_ratio = step_size_up / self.total_size

        if mode not in _MODES and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()

        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _uses_beta1(optimizer)
            self.base_momentums = _format_param("base_momentum", optimizer, base_momentum)
            self.max_momentums = _format_param("max_momentum", optimizer, max_momentum)
            if last_epoch == -1:
                groups = optimizer.param_groups
                for max_m, base_m, group in zip(self.max_momentums, self.base_momentums, groups):
                    _set_momentum(group, self.use_beta1, max_m)
                    group["max_momentum"] = max_m
                    group["base_momentum"] = base_m
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self):
        # the built-in policies fix scale_mode; a custom scale_fn keeps the user's
        if self._scale_fn_custom is not None:
            return
        if self.mode == "triangular":
            self._scale_fn_ref, self.scale_mode = _triangular_scale, "cycle"
        elif self.mode == "triangular2":
            self._scale_fn_ref, self.scale_mode = _triangular2_scale, "cycle"
        elif self.mode == "exp_range":
            self._scale_fn_ref, self.scale_mode = partial(_exp_range_scale, self.gamma), "iterations"

    def scale_fn(self, x):
        """The amplitude scale at x (the cycle number or the iteration, per scale_mode)."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        return self._scale_fn_ref(x)

    def get_lr(self):
        """The lrs for iteration last_epoch; with cycle_momentum, also writes the groups' momentum."""
        self._warn_get_lr_outside_step()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle  # position within the cycle, in [0, 1)
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        amplitude = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base_lr + (max_lr - base_lr) * scale_factor * amplitude
               for base_lr, max_lr in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for group, base_m, max_m in zip(self.optimizer.param_groups, self.base_momentums,
                                            self.max_momentums):
                _set_momentum(group, self.use_beta1, max_m - (max_m - base_m) * scale_factor * amplitude)
        return lrs

    def state_dict(self):
        """As LRScheduler's; a custom scale_fn is saved only if it is a callable object (its __dict__)."""
        state = super().state_dict()
        state.pop("_scale_fn_ref", None)  # a built-in policy, rebuilt from mode on load
        state["_scale_fn_custom"] = _callable_state(state.get("_scale_fn_custom"))
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved_fn = state.pop("_scale_fn_custom", None)
        super().load_state_dict(state)
        if saved_fn is not None:
            self._scale_fn_custom.__dict__.update(saved_fn)
        self._init_scale_fn()
