"""Recurrent layers: RNN, LSTM, GRU (multi-layer, bidirectional, batch_first, dropout) and their cells.

Parameter names and shapes are PyTorch's (weight_ih_l0, weight_hh_l0_reverse, ...), so state dicts
port both ways. Each layer projects the whole input sequence in one GEMM, then runs one fused step
op per time step (gpunet/ops/rnn.py, called through gpunet/nn/functional/rnn.py).
"""
import math

from gpunet.autograd.grad_mode import no_grad
from gpunet.nn.functional import rnn as R
from gpunet.nn.functional.dropout import dropout
from gpunet.nn.functional.linear import linear
from gpunet.nn.module import Module
from gpunet.nn.parameter import Parameter
from gpunet.ops.creation import empty, zeros
from gpunet.ops.rnn import GRUSequence, LSTMSequence
from gpunet.ops.shape import cat, stack, unbind

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        if not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        if proj_size:
            raise NotImplementedError("LSTM(proj_size>0) is not supported by gpunet")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        gate_size = _GATES[mode] * hidden_size
        directions = 2 if bidirectional else 1
        self._flat_weights_names = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for d in range(directions):
                suffix = "_reverse" if d else ""
                shapes = [(f"weight_ih_l{layer}{suffix}", (gate_size, layer_input)),
                          (f"weight_hh_l{layer}{suffix}", (gate_size, hidden_size))]
                if bias:
                    shapes += [(f"bias_ih_l{layer}{suffix}", (gate_size,)),
                               (f"bias_hh_l{layer}{suffix}", (gate_size,))]
                for name, shape in shapes:
                    setattr(self, name, Parameter(empty(shape, device=device, dtype=dtype)))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    def reset_parameters(self):
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with no_grad():
            for name in self._flat_weights_names:
                getattr(self, name).uniform_(-bound, bound)

    def flatten_parameters(self):
        """Accepted for compatibility (cuDNN weight packing): nothing to do in gpunet."""

    @property
    def all_weights(self):
        per = 4 if self.bias else 2
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[i:i + per]] for i in range(0, len(names), per)]

    def _weights(self, layer, direction):
        suffix = "_reverse" if direction else ""
        def get(kind):
            return getattr(self, f"{kind}_l{layer}{suffix}") if (self.bias or "weight" in kind) else None
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")

    def _check_input(self, input, op):
        if input.dim() not in (2, 3):
            raise ValueError(f"{op}: Expected input to be 2D or 3D, got {input.dim()}D tensor (shape "
                             f"{list(input.shape)})")
        if input.shape[-1] != self.input_size:
            raise RuntimeError(f"{op}: input.size(-1) must be equal to input_size. "
                               f"Expected {self.input_size}, got {input.shape[-1]}")
        if input.shape[1 if input.dim() == 3 and self.batch_first else 0] == 0:
            raise RuntimeError(f"{op}: Expected sequence length to be larger than 0 in RNN (input of shape "
                               f"{list(input.shape)})")

    def _check_hidden(self, hx, batch, op, what="hidden"):
        expected = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        if tuple(hx.shape) != expected:
            raise RuntimeError(f"{op}: Expected {what} size {expected}, got {list(hx.shape)}")

    def forward(self, input, hx=None):
        op = type(self).__name__
        self._check_input(input, op)
        batched = input.dim() == 3
        is_lstm = self.mode == "LSTM"
        if not batched:
            input = input.unsqueeze(1)
            if hx is not None:
                hx = tuple(h.unsqueeze(1) for h in hx) if is_lstm else hx.unsqueeze(1)
        elif self.batch_first:
            input = input.transpose(0, 1)
        batch = input.shape[1]
        directions = 2 if self.bidirectional else 1
        if hx is None:
            h0 = zeros(self.num_layers * directions, batch, self.hidden_size, dtype=input.dtype,
                       device=input.device)
            hx = (h0, h0) if is_lstm else h0
        if is_lstm:
            self._check_hidden(hx[0], batch, op)
            self._check_hidden(hx[1], batch, op, "cell")
        else:
            self._check_hidden(hx, batch, op)
        layer_input = input
        h_last, c_last = [], []
        for layer in range(self.num_layers):
            outputs = []
            for d in range(directions):
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
                k = layer * directions + d
                h = hx[0][k] if is_lstm else hx[k]
                c = hx[1][k] if is_lstm else None
                gi = linear(layer_input, w_ih, b_ih)  # the whole sequence: one GEMM
                states, h, c = self._layer(gi, h, c, w_hh, b_hh, bool(d))
                outputs.append(states)
                h_last.append(h)
                c_last.append(c)
            layer_input = outputs[0] if directions == 1 else cat(outputs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = dropout(layer_input, self.dropout, True)
        output = layer_input
        h_n = stack(h_last)
        hidden = (h_n, stack(c_last)) if is_lstm else h_n
        if not batched:
            output = output.squeeze(1)
            hidden = tuple(h.squeeze(1) for h in hidden) if is_lstm else hidden.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, hidden

    def _layer(self, gi, h, c, w_hh, b_hh, reverse):
        """One layer in one direction over the input projections gi (T, B, gates * H): (the hidden states
        (T, B, H) in time order, the last hidden state, the last cell state or None)."""
        if self.mode == "LSTM":
            states, c = LSTMSequence.apply(gi, h, c, w_hh, b_hh, reverse)
        elif self.mode == "GRU":
            states = GRUSequence.apply(gi, h, w_hh, b_hh, reverse)
        else:
            cell = R.rnn_tanh_cell if self.mode == "RNN_TANH" else R.rnn_relu_cell
            gi_steps = unbind(gi)  # one backward node
            steps = [None] * gi.shape[0]
            for t in (range(gi.shape[0] - 1, -1, -1) if reverse else range(gi.shape[0])):
                h = steps[t] = cell(None, h, None, w_hh, None, b_hh, gi=gi_steps[t])
            return stack(steps), h, None
        return states, states[0 if reverse else -1], c

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size,
                         num_layers, bias, batch_first, dropout, bidirectional, device=device, dtype=dtype)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"


class LSTM(RNNBase):
    """LSTM with PyTorch's gates (i, f, g, o); forward returns output, (h_n, c_n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, proj_size=0, device=None, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """GRU with PyTorch's gates (r, z, n); forward returns output, h_n."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, device=None, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)


class RNNCellBase(Module):
    def __init__(self, input_size, hidden_size, bias, num_chunks, device=None, dtype=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(empty(num_chunks * hidden_size, input_size, device=device, dtype=dtype))
        self.weight_hh = Parameter(empty(num_chunks * hidden_size, hidden_size, device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1.0 / math.sqrt(self.hidden_size)
        with no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)

    def _prepare(self, input, hx, op):
        if input.dim() not in (1, 2):
            raise ValueError(f"{op}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        batched = input.dim() == 2
        if not batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = zeros(input.shape[0], self.hidden_size, dtype=input.dtype, device=input.device)
        elif not batched:
            hx = hx.unsqueeze(0)
        return input, hx, batched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx, "RNNCell")
        R._check_cell(input, hx, self.weight_ih, "RNNCell")
        cell = R.rnn_tanh_cell if self.nonlinearity == "tanh" else R.rnn_relu_cell
        h = cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)


class LSTMCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        batched = input.dim() == 2
        h0, c0 = (None, None) if hx is None else hx
        input, h0, _ = self._prepare(input, h0, "LSTMCell")
        c0 = zeros(h0.shape, dtype=input.dtype, device=input.device) if c0 is None else (
            c0 if batched else c0.unsqueeze(0))
        h, c = R.lstm_cell(input, h0, c0, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(RNNCellBase):
    def __init__(self, input_size, hidden_size, bias=True, device=None, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        input, hx, batched = self._prepare(input, hx, "GRUCell")
        h = R.gru_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return h if batched else h.squeeze(0)
