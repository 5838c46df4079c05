"""MultiheadAttention and the Transformer modules against torch.nn with the same weights, in float64:
outputs, input and parameter gradients; state dicts both ways; initialisation; a small causal language
model trained beside PyTorch in float32."""
import numpy as np
import pytest

import gpunet
from gpunet import nn

from tests.helpers import check_layer, port, rand, simulated, state_layout, to_np, torch

pytestmark = [pytest.mark.skipif(torch is None, reason="torch is not installed"),
              # torch.nn.Transformer's encoder has enable_nested_tensor=True and warns it cannot use it
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True:UserWarning")]

X = rand(5, 2, 8, seed=1)  # (L, N, E)
KV = rand(7, 2, 8, seed=2)
KPM = np.zeros((2, 7), dtype=bool)
KPM[1, 4:] = True
AM = rand(5, 7, seed=3)
CAUSAL = np.triu(np.ones((5, 5), dtype=bool), 1)


def mha(nn, call=None, masks=("key_padding_mask", "attn_mask"), **kw):
    """An MHA wrapped so check_layer passes the masks named in `masks` positionally after q, k, v, and the
    forward's options by keyword; it returns the output alone when there are no weights."""
    m = nn.MultiheadAttention(8, 2, **kw)
    call = call or {}

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.m = m

        def forward(self, q, k, v, *mask_values):
            out, weights = self.m(q, k, v, **dict(zip(masks, mask_values)), **call)
            return out if weights is None else (out, weights)
    return Wrap()


MHA_CASES = [
    ("self", lambda nn: nn.MultiheadAttention(8, 2), [X, X, X]),
    ("cross", lambda nn: nn.MultiheadAttention(8, 4, bias=False), [X, KV, KV]),
    ("kdim-vdim", lambda nn: nn.MultiheadAttention(8, 2, kdim=3, vdim=4), [X, rand(7, 2, 3), rand(7, 2, 4)]),
    ("bias-kv-zero-attn", lambda nn: nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True),
     [X, KV, KV]),
    ("masks", lambda nn: mha(nn), [X, KV, KV, KPM, AM > 0.5]),
    ("float-masks", lambda nn: mha(nn), [X, KV, KV, np.where(KPM, -np.inf, 0.0), AM]),
    ("no-weights", lambda nn: mha(nn, {"need_weights": False}), [X, KV, KV, KPM, AM > 0.5]),
    ("per-head-weights", lambda nn: mha(nn, {"average_attn_weights": False}), [X, KV, KV, KPM]),
    ("batch-first", lambda nn: mha(nn, batch_first=True),
     [X.transpose(1, 0, 2)] + [KV.transpose(1, 0, 2)] * 2),
    ("3d-mask", lambda nn: mha(nn, {"need_weights": False}, ("attn_mask",)), [X, KV, KV, rand(4, 5, 7)]),
    ("causal-hint", lambda nn: mha(nn, {"need_weights": False, "is_causal": True}, ("attn_mask",)),
     [X, X, X, CAUSAL]),
    ("unbatched", lambda nn: nn.MultiheadAttention(8, 2), [X[:, 0], KV[:, 0], KV[:, 0]]),
]


@pytest.mark.parametrize("make, arrays", [c[1:] for c in MHA_CASES], ids=[c[0] for c in MHA_CASES])
def test_multihead_attention_matches_torch(make, arrays):
    check_layer(make, *arrays)


def test_multihead_attention_on_the_device(device):
    x = X[:2, :1] if simulated(device) else X
    check_layer(lambda nn: mha(nn, {"need_weights": False}), x, x, x, device=device)
    check_layer(lambda nn: nn.MultiheadAttention(8, 2), x, x, x, device=device)


def test_multihead_attention_fully_masked_row_with_weights_gives_nan_as_torch():
    m = nn.MultiheadAttention(8, 2).double()
    kpm = gpunet.tensor(np.ones((2, 7), dtype=bool))
    out, w = m(gpunet.tensor(X), gpunet.tensor(KV), gpunet.tensor(KV), key_padding_mask=kpm)
    assert np.isnan(to_np(out)).all() and np.isnan(to_np(w)).all()


def test_multihead_attention_parameters_and_init():
    m = nn.MultiheadAttention(16, 4)
    t = torch.nn.MultiheadAttention(16, 4)
    assert state_layout(m) == {k: (tuple(v.shape), str(v.dtype).split(".")[-1])
                               for k, v in t.state_dict().items()}
    assert (to_np(m.in_proj_bias) == 0).all() and (to_np(m.out_proj.bias) == 0).all()
    bound = np.sqrt(6 / (16 + 48))  # xavier_uniform_ on (3E, E)
    assert np.abs(to_np(m.in_proj_weight)).max() <= bound
    assert np.abs(to_np(m.in_proj_weight)).max() > 0.8 * bound
    sep = nn.MultiheadAttention(16, 4, kdim=5, vdim=6, add_bias_kv=True)
    assert sep.in_proj_weight is None and tuple(sep.k_proj_weight.shape) == (16, 5)
    assert [n for n, _ in sep.named_parameters()] == [n for n, _ in torch.nn.MultiheadAttention(
        16, 4, kdim=5, vdim=6, add_bias_kv=True).named_parameters()]
    assert sep.head_dim == 4 and sep.batch_first is False


def test_multihead_attention_errors():
    m = nn.MultiheadAttention(8, 2)
    x = gpunet.randn(5, 2, 8)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(RuntimeError, match="The shape of the 2D attn_mask is"):
        m(x, x, x, attn_mask=gpunet.zeros(4, 5))


def _encoder(nn, **kw):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, **kw)
    return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8), enable_nested_tensor=False)


def _with_masks(module_fn, **masks):
    """module(x, *arrays) with named mask arguments taken from the arrays after x."""
    def make(nn):
        inner = module_fn(nn)

        class Wrap(nn.Module):
            def __init__(self):
                super().__init__()
                self.inner = inner

            def forward(self, *xs):
                n = len(xs) - len(masks)
                return self.inner(*xs[:n], **dict(zip(masks, xs[n:])), **FLAGS.get(id(self), {}))
        return Wrap()
    return make


FLAGS = {}
MEM = rand(6, 2, 8, seed=4)
MEM_KPM = np.zeros((2, 6), dtype=bool)
MEM_KPM[0, 5] = True

TRANSFORMER_CASES = [
    ("encoder-layer", lambda nn: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), [X]),
    ("encoder-layer-norm-first-gelu",
     lambda nn: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=True, activation="gelu"), [X]),
    ("encoder-layer-callable-activation",
     lambda nn: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation=nn.functional.tanh), [X]),
    ("encoder-layer-masks", _with_masks(lambda nn: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0),
                                        src_mask=None, src_key_padding_mask=None),
     [X, np.where(CAUSAL, -np.inf, 0.0), np.where(KPM[:, :5], -np.inf, 0.0)]),
    ("encoder-layer-batch-first-no-bias",
     lambda nn: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, bias=False),
     [X.transpose(1, 0, 2)]),
    ("encoder", _encoder, [X]),
    ("encoder-causal", _with_masks(_encoder, mask=None), [X, np.where(CAUSAL, -np.inf, 0.0)]),
    ("decoder-layer", lambda nn: nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), [X, MEM]),
    ("decoder-layer-norm-first",
     lambda nn: nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, norm_first=True), [X, MEM]),
    ("decoder", _with_masks(lambda nn: nn.TransformerDecoder(
        nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), 2, norm=nn.LayerNorm(8)),
        tgt_mask=None, memory_key_padding_mask=None),
     [X, MEM, CAUSAL, MEM_KPM]),
    ("transformer", _with_masks(lambda nn: nn.Transformer(8, 2, 2, 2, 16, dropout=0.0),
                                tgt_mask=None, src_key_padding_mask=None, memory_key_padding_mask=None),
     [MEM, X, np.where(CAUSAL, -np.inf, 0.0), MEM_KPM, MEM_KPM]),
    ("transformer-batch-first-norm-first",
     lambda nn: nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, batch_first=True, norm_first=True),
     [MEM.transpose(1, 0, 2), X.transpose(1, 0, 2)]),
]


@pytest.mark.parametrize("make, arrays", [c[1:] for c in TRANSFORMER_CASES],
                         ids=[c[0] for c in TRANSFORMER_CASES])
def test_transformer_modules_match_torch(make, arrays):
    needs = [a.dtype.kind == "f" and not np.isinf(a).any() and i < 2 for i, a in enumerate(arrays)]
    check_layer(make, *arrays, needs=needs)


def test_encoder_layer_on_the_device(device):
    x = X[:2, :1] if simulated(device) else X
    check_layer(lambda nn: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), x, device=device)


def test_state_dicts_port_both_ways():
    g = nn.Transformer(8, 2, 1, 2, 16)
    t = torch.nn.Transformer(8, 2, 1, 2, 16)
    assert list(g.state_dict()) == list(t.state_dict())
    port(t, g)
    port(g, t)
    assert "decoder.layers.1.multihead_attn.out_proj.weight" in g.state_dict()
    assert "encoder.layers.0.self_attn.in_proj_weight" in g.state_dict()


def test_transformer_init_and_mask():
    m = nn.Transformer(16, 4, 1, 1, 32)
    w = to_np(m.encoder.layers[0].linear1.weight)
    assert np.abs(w).max() <= np.sqrt(6 / (16 + 32))  # xavier_uniform_ on every matrix
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    want = torch.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    np.testing.assert_array_equal(to_np(mask), want)
    assert mask.dtype == gpunet.float32
    with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
        m(gpunet.randn(3, 2, 16), gpunet.randn(3, 1, 16))
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")


def test_dropout_layers_train_and_eval():
    gpunet.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = gpunet.tensor(X, dtype=gpunet.float32)
    a, b = layer(x), layer(x)
    assert not np.allclose(to_np(a), to_np(b))
    layer.eval()
    np.testing.assert_array_equal(to_np(layer(x)), to_np(layer(x)))


def _language_model(lib, vocab, d):
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0,
                                                                            batch_first=True), 2,
                                                 enable_nested_tensor=False)
            self.head = nn.Linear(d, vocab)

        def forward(self, tokens):
            mask = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1])
            return self.head(self.encoder(self.embed(tokens), mask=mask, is_causal=True))
    return LM()


def test_a_small_causal_language_model_trains_as_in_torch():
    vocab, d, steps = 11, 16, 5
    rng = np.random.default_rng(0)
    # one batch of random tokens, seen every step: the loss must fall (fresh random batches would let it
    # rise from one step to the next, whatever the framework)
    data = np.repeat(rng.integers(0, vocab, size=(1, 4, 9)), steps, axis=0)
    torch.manual_seed(0)  # torch's initial weights, which port() copies: the same run every time
    gm, tm = _language_model(gpunet, vocab, d), _language_model(torch, vocab, d)
    port(tm, gm)
    gopt = gpunet.optim.Adam(gm.parameters(), lr=1e-2)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    losses = []
    for batch in data:
        pair = []
        for lib, model, opt in ((gpunet, gm, gopt), (torch, tm, topt)):
            tokens = lib.tensor(batch)
            logits = model(tokens[:, :-1])
            loss = lib.nn.functional.cross_entropy(logits.reshape(-1, vocab), tokens[:, 1:].reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            pair.append(loss.item())
        losses.append(pair)
    losses = np.array(losses)
    np.testing.assert_allclose(losses[:, 0], losses[:, 1], atol=1e-5, rtol=1e-5)
    assert losses[-1, 0] < losses[0, 0]
