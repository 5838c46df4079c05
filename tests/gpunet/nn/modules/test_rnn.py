"""Recurrent layers: fused step gradients, parity with PyTorch, state-dict layout, errors."""
import numpy as np
import pytest

import gpunet
from gpunet import nn
from gpunet.autograd import gradcheck
from gpunet.nn.functional import rnn as R
from gpunet.ops.rnn import GRUSequence, LSTMSequence

from tests.helpers import simulated


def _rand(*shape, requires_grad=True, device="cpu"):
    return gpunet.randn(*shape, dtype=gpunet.float64, requires_grad=requires_grad, device=device)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_step_gradcheck(bias, device):
    gpunet.manual_seed(0)
    gi, h, w = _rand(2, 9, device=device), _rand(2, 3, device=device), _rand(9, 3, device=device)
    b = _rand(9, device=device) if bias else None
    assert gradcheck(lambda *a: R.GRUStep.apply(*a), (gi, h, w, b))


@pytest.mark.parametrize("bias", [True, False])
def test_lstm_step_gradcheck(bias, device):
    gpunet.manual_seed(1)
    gi, h, c, w = (_rand(*s, device=device) for s in [(2, 12), (2, 3), (2, 3), (12, 3)])
    b = _rand(12, device=device) if bias else None
    assert gradcheck(lambda *a: R.LSTMStep.apply(*a), (gi, h, c, w, b))


def test_lstm_step_only_cell_output_used(device):
    gi, h, c, w = (_rand(*s, device=device) for s in [(2, 12), (2, 3), (2, 3), (12, 3)])
    assert gradcheck(lambda *a: R.LSTMStep.apply(*a)[1], (gi, h, c, w, None))


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("bias", [True, False])
def test_gru_sequence_gradcheck(bias, reverse):
    """The whole-layer GRU Op (one node for the sequence): gradients of the projections, the initial state,
    the recurrent weight (one product over all steps) and bias. (On the CPU: the Op calls the same gate
    kernels on both devices, and a gradcheck is ~30 s of simulated launches; the next tests compare the
    Ops with the step Ops on both.)"""
    gpunet.manual_seed(2)
    gi, h, w = _rand(4, 2, 9), _rand(2, 3), _rand(9, 3)
    b = _rand(9) if bias else None
    assert gradcheck(lambda *a: GRUSequence.apply(*a, reverse), (gi, h, w, b))


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("used", ["both", "states", "cell"])
def test_lstm_sequence_gradcheck(used, reverse):
    gpunet.manual_seed(3)
    gi, h, c, w, b = (_rand(*s) for s in [(4, 2, 12), (2, 3), (2, 3), (12, 3), (12,)])

    def run(*args):
        states, cell = LSTMSequence.apply(*args, reverse)
        return {"both": (states, cell), "states": states, "cell": cell}[used]
    assert gradcheck(run, (gi, h, c, w, b))


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_sequence_ops_equal_their_steps(reverse, device):
    """A GRU / LSTM sequence Op gives the step Ops' states (reverse: from the last step) and, through
    backward, their gradients."""
    gpunet.manual_seed(4)
    args = [_rand(*s, device=device) for s in [(5, 2, 12), (2, 3), (2, 3), (12, 3), (12,)]]
    weights = [_rand(5, 2, 3, requires_grad=False, device=device), _rand(2, 3, requires_grad=False,
                                                                          device=device)]

    def grads(run):
        for a in args:
            a.grad = None
        states, cell, gru_states = run(*args)
        ((states * weights[0]).sum() + (cell * weights[1]).sum() + (gru_states * states).sum()).backward()
        return [states, cell, gru_states] + [a.grad for a in args]

    def sequences(gi, h0, c0, w, b):
        states, cell = LSTMSequence.apply(gi, h0, c0, w, b, reverse)
        return states, cell, GRUSequence.apply(gi[..., :9], h0, w[:9], b[:9], reverse)

    def steps(gi, h0, c0, w, b):
        h, c, g = h0, c0, h0
        hs, gs = [None] * 5, [None] * 5
        for t in (range(4, -1, -1) if reverse else range(5)):
            h, c = R.LSTMStep.apply(gi[t], h, c, w, b)
            hs[t] = h
            g = gs[t] = R.GRUStep.apply(gi[t, :, :9], g, w[:9], b[:9])
        return gpunet.stack(hs), c, gpunet.stack(gs)

    for got, want in zip(grads(sequences), grads(steps)):
        np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().cpu().numpy(), rtol=1e-12,
                                   atol=1e-14)


def test_rnn_cells_gradcheck(device):
    x, h = _rand(2, 4, device=device), _rand(2, 3, device=device)
    w_ih, w_hh, b_ih, b_hh = (_rand(*s, device=device) for s in [(3, 4), (3, 3), (3,), (3,)])
    assert gradcheck(R.rnn_tanh_cell, (x, h, w_ih, w_hh, b_ih, b_hh))
    assert gradcheck(R.rnn_relu_cell, (x, h, w_ih, w_hh, b_ih, b_hh))


def _copy_weights(ours, theirs):
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.copy_(torch.from_numpy(np.array(getattr(ours, name).detach().cpu().numpy())))


LAYERS = [
    ("RNN", {"num_layers": 2}),
    ("RNN", {"nonlinearity": "relu", "bias": False}),
    ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"batch_first": True}),
    ("GRU", {"num_layers": 2, "bidirectional": True, "batch_first": True}),
    ("GRU", {"bias": False}),
]


@pytest.mark.parametrize("kind,kwargs", LAYERS)
def test_layer_matches_torch(kind, kwargs, device):
    torch = pytest.importorskip("torch")
    gpunet.manual_seed(0)
    ours = getattr(nn, kind)(5, 4, dtype=gpunet.float64, device=device, **kwargs)
    theirs = getattr(torch.nn, kind)(5, 4, dtype=torch.float64, **kwargs)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_weights(ours, theirs)
    shape = (3, 6, 5) if kwargs.get("batch_first") else (6, 3, 5)
    x_np = np.random.default_rng(0).standard_normal(shape)
    x = gpunet.tensor(x_np, requires_grad=True, device=device)
    tx = torch.tensor(x_np, requires_grad=True)
    out, hidden = ours(x)
    tout, thidden = theirs(tx)
    np.testing.assert_allclose(out.detach().cpu().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    hs = hidden if kind == "LSTM" else (hidden,)
    ths = thidden if kind == "LSTM" else (thidden,)
    for a, b in zip(hs, ths):
        np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().cpu().numpy(), rtol=1e-10, atol=1e-12)
    loss = (out * out).sum() + sum((h * h).sum() for h in hs)
    tloss = (tout * tout).sum() + sum((h * h).sum() for h in ths)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad.cpu().numpy(), p.grad.numpy(), rtol=1e-9,
                                   atol=1e-12,
                                   err_msg=name)


def test_float32_lstm_matches_torch_through_the_fused_loops(monkeypatch):
    """float32 layers with a hidden size of whole vectors run kernels/cpu/_lstm_sequence.py's loops."""
    torch = pytest.importorskip("torch")
    from kernels.cpu import _lstm_sequence as fused
    ran = []
    monkeypatch.setattr(fused, "forward", lambda *a, _f=fused.forward: ran.append(1) or _f(*a))
    gpunet.manual_seed(0)
    kwargs = {"num_layers": 2, "bidirectional": True, "batch_first": True}
    ours, theirs = nn.LSTM(6, 16, **kwargs), torch.nn.LSTM(6, 16, **kwargs)
    _copy_weights(ours, theirs)
    x_np = np.random.default_rng(0).standard_normal((3, 7, 6)).astype(np.float32)
    x, tx = gpunet.tensor(x_np, requires_grad=True), torch.tensor(x_np, requires_grad=True)
    (out, (h, c)), (tout, (th, tc)) = ours(x), theirs(tx)
    assert len(ran) == 4  # two layers, two directions
    for a, b in ((out, tout), (h, th), (c, tc)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
    ((out * out).sum() + (c * h).sum()).backward()
    ((tout * tout).sum() + (tc * th).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad.numpy(), p.grad.numpy(), rtol=1e-4, atol=1e-5,
                                   err_msg=name)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_match_torch(kind, device):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, kind)(5, 4, dtype=gpunet.float64, device=device)
    theirs = getattr(torch.nn, kind)(5, 4, dtype=torch.float64)
    _copy_weights(ours, theirs)
    x_np = np.random.default_rng(1).standard_normal((3, 5))
    out = ours(gpunet.tensor(x_np, device=device))
    tout = theirs(torch.tensor(x_np))
    outs = out if isinstance(out, tuple) else (out,)
    touts = tout if isinstance(tout, tuple) else (tout,)
    for a, b in zip(outs, touts):
        np.testing.assert_allclose(a.detach().cpu().numpy(), b.detach().cpu().numpy(), rtol=1e-10, atol=1e-12)
    # unbatched input
    out1 = ours(gpunet.tensor(x_np[0], device=device))
    out1 = out1[0] if isinstance(out1, tuple) else out1
    np.testing.assert_allclose(out1.detach().cpu().numpy(), outs[0].detach().cpu().numpy()[0], rtol=1e-10)


def test_initial_state_and_unbatched_input(device):
    gpunet.manual_seed(0)
    gru = nn.GRU(3, 2, num_layers=2, device=device)
    x = gpunet.randn(4, 3, device=device)
    h0 = gpunet.randn(2, 2, device=device)
    out, h = gru(x, h0)
    assert out.shape == (4, 2) and h.shape == (2, 2)
    batched_out, _ = gru(x.unsqueeze(1), h0.unsqueeze(1))
    np.testing.assert_allclose(out.detach().cpu().numpy(), batched_out.squeeze(1).detach().cpu().numpy(),
                               rtol=1e-6)


def test_errors_name_expected_sizes(device):
    lstm = nn.LSTM(3, 2, device=device)
    with pytest.raises(RuntimeError, match="Expected 3, got 4"):
        lstm(gpunet.randn(5, 1, 4, device=device))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(1, 1, 2\)"):
        state = (gpunet.zeros(2, 1, 2, device=device), gpunet.zeros(1, 1, 2, device=device))
        lstm(gpunet.randn(5, 1, 3, device=device), state)
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 2, dropout=1.5)
    for layer, shape in [(nn.GRU(3, 2, device=device), (0, 1, 3)), (lstm, (0, 3)),
                         (nn.RNN(3, 2, batch_first=True, device=device), (4, 0, 3))]:
        with pytest.raises(RuntimeError, match="sequence length to be larger than 0"):
            layer(gpunet.randn(*shape, device=device))


def test_dropout_between_layers_only_in_training(device):
    gpunet.manual_seed(0)
    rnn = nn.RNN(3, 8, num_layers=2, dropout=0.5, device=device)
    x = gpunet.randn(4, 2, 3, device=device)
    rnn.eval()
    a, _ = rnn(x)
    b, _ = rnn(x)
    np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())
    rnn.train()
    c, _ = rnn(x)
    assert not np.allclose(a.detach().cpu().numpy(), c.detach().cpu().numpy())


def test_long_sequence_backward_no_recursion(device):
    """A graph 2,000 steps deep (nn.RNN keeps a few nodes per step; GRU and LSTM layers are one node)."""
    if simulated(device):  # thousands of simulated kernel launches; the walk is device-agnostic
        pytest.skip("the simulated device runs the short sequences (the graph walk is device-agnostic)")
    rnn = nn.RNN(2, 3, device=device)
    out, _ = rnn(gpunet.randn(2000, 1, 2, device=device))
    out.sum().backward()
    assert rnn.weight_hh_l0.grad is not None


def test_repr_matches_pytorch_style():
    assert repr(nn.LSTM(10, 20, num_layers=2, batch_first=True)) == \
        "LSTM(10, 20, num_layers=2, batch_first=True)"
    assert repr(nn.GRUCell(3, 4)) == "GRUCell(3, 4)"
