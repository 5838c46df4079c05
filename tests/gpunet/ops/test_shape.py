"""Shape and indexing ops: values and gradients vs torch / finite differences, view semantics, errors."""
import numpy as np
import pytest

import gpunet

from tests.helpers import check_op, lib

VIEWS = {
    "view": lambda x: x.view(4, 6),
    "view_infer": lambda x: x.view(-1, 3),
    "reshape": lambda x: x.reshape(3, 8),
    "reshape_tuple": lambda x: x.reshape((6, -1)),
    "flatten": lambda x: x.flatten(),
    "flatten_1": lambda x: x.flatten(1),
    "flatten_0_1": lambda x: x.flatten(0, 1),
    "permute": lambda x: x.permute(2, 0, 1),
    "permute_neg": lambda x: x.permute(-1, -3, -2),
    "transpose": lambda x: x.transpose(0, 2),
    "transpose_neg": lambda x: x.transpose(-1, -2),
    "squeeze": lambda x: x.unsqueeze(0).squeeze(),
    "squeeze_dim": lambda x: x.unsqueeze(1).squeeze(1),
    "unsqueeze": lambda x: x.unsqueeze(-1),
    "expand": lambda x: x.unsqueeze(0).expand(3, -1, -1, -1),
    "repeat": lambda x: x.repeat(2, 1, 3),
    "repeat_more_dims": lambda x: x.repeat(2, 1, 1, 2),
    "flip": lambda x: x.flip(0, 2),
    "roll": lambda x: x.roll(1, 2),
    "roll_multi": lambda x: x.roll((1, -1), (0, 1)),
    "movedim": lambda x: lib(x).movedim(x, 0, -1),
    "contiguous": lambda x: x.transpose(0, 1).contiguous(),
    "clone": lambda x: x.clone(),
    "narrow": lambda x: x.narrow(2, 1, 2),
    "select": lambda x: x.select(1, 2),
    "unbind": lambda x: x.unbind(1),
    "split": lambda x: x.split(2, dim=2),
    "split_sizes": lambda x: x.split([1, 3], dim=-1),
    "chunk": lambda x: x.chunk(3, 1),
    "chunk_uneven": lambda x: x.chunk(3, 2),
    "tril": lambda x: lib(x).tril(x[0]),
    "triu": lambda x: lib(x).triu(x[0], 1),
    "T_2d": lambda x: x[0].T,
    "t": lambda x: x[0].t(),
    "mT": lambda x: x.mT,
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_shape_op(name, device):
    check_op(VIEWS[name], (2, 3, 4), device=device)


INDEXES = {
    "int": lambda x: x[1],
    "neg_int": lambda x: x[-1, 0],
    "slice": lambda x: x[:, 1:3],
    "step": lambda x: x[::2, 1::2],
    "none": lambda x: x[None, :, None],
    "ellipsis": lambda x: x[..., 1],
    "ellipsis_none": lambda x: x[..., None, 2:],
    "int_tensor": lambda x: x[lib(x).tensor([2, 0, 2])],
    "int_tensor_2d": lambda x: x[lib(x).tensor([[0, 1], [1, 1]])],
    "list": lambda x: x[[0, 2, 2]],
    "two_lists": lambda x: x[[0, 2], [1, 3]],
    "list_and_slice": lambda x: x[1:, [0, 0, 3]],
    "bool_tensor": lambda x: x[x > 0],
    "bool_row_mask": lambda x: x[lib(x).tensor([True, False, True])],
    "mixed": lambda x: x[lib(x).tensor([0, 2]), 1:3],
    "int_then_list": lambda x: x[1, [0, 3, 3]],
}

INDEXES_3D = {
    # integers apply before advanced indices in torch; NumPy would move the advanced dims to the front
    "int_slice_list": lambda x: x[0, :, [1, 2]],
    "list_slice_int": lambda x: x[[1, 0], :, 3],
    "int_ellipsis_tensor": lambda x: x[1, ..., lib(x).tensor([0, 2])],
    "slice_int_mask": lambda x: x[:, 1, lib(x).tensor([True, False, True, False])],
    "ellipsis_int_none_list": lambda x: x[..., 0, None, [1]],
    "list_int_list": lambda x: x[[0, 1], 2, [3, 0]],
}


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_getitem(name, device):
    check_op(INDEXES[name], (3, 4), device=device)


@pytest.mark.parametrize("name", sorted(INDEXES_3D))
def test_getitem_3d_torch_order(name, device):
    check_op(INDEXES_3D[name], (2, 3, 4), device=device)


def test_setitem_int_and_list_follows_torch_order(device):
    x = gpunet.zeros(2, 3, 4, device=device)
    x[0, :, [1, 2]] = gpunet.arange(6.0, device=device).reshape(3, 2)
    assert x[0].tolist() == [[0, 0, 1, 0], [0, 2, 3, 0], [0, 4, 5, 0]] and x[1].sum().item() == 0
    v = gpunet.arange(6.0, device=device).reshape(3, 2).requires_grad_()
    h = gpunet.zeros(2, 3, 4, device=device) * 1
    h[1, :, [0, 3]] = v * 2
    (h * gpunet.arange(4.0, device=device)).sum().backward()
    assert v.grad.tolist() == [[0.0, 6.0]] * 3


def test_cat_stack(device):
    check_op(lambda x, y, z: lib(x).cat([x, y, z], 1), (2, 3), (2, 1), (2, 4), device=device)
    check_op(lambda x, y: lib(x).cat((x, y), dim=-1), (2, 3), (2, 2), device=device)
    check_op(lambda x, y: lib(x).cat([x, y]), (1, 3), (2, 3), device=device)
    check_op(lambda x, y: lib(x).stack([x, y]), (2, 3), (2, 3), device=device)
    check_op(lambda x, y: lib(x).stack([x, y], dim=-1), (2, 3), (2, 3), device=device)
    check_op(lambda x, y: lib(x).stack([x, y], 1), (2, 3), (2, 3), device=device)
    check_op(lambda x, y: lib(x).stack([x, y, x]), (), (), device=device)  # 0-d entries, one used twice
    check_op(lambda x, y: lib(x).hstack([x, y]), (2, 3), (2, 3), device=device)
    check_op(lambda x, y: lib(x).vstack([x, y]), (3,), (3,), device=device)


def test_stack_promotes_and_passes_gradients_to_those_that_need_them(device):
    x = gpunet.ones(2, requires_grad=True, device=device)
    n = gpunet.arange(2, device=device)  # int64: the stack is float32, as PyTorch's
    out = gpunet.stack([n, x, n], 1)
    assert out.dtype == gpunet.float32 and out.tolist() == [[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]]
    (out * gpunet.arange(6.0, device=device).reshape(2, 3)).sum().backward()
    assert x.grad.tolist() == [1.0, 4.0]
    assert gpunet.stack([n, n]).dtype == gpunet.int64 and out.grad_fn is not None


def test_cat_only_one_requires_grad(device):
    x = gpunet.ones(2, requires_grad=True, device=device)
    y = gpunet.zeros(3, device=device)
    out = gpunet.cat([y, x])
    (out * gpunet.arange(5.0, device=device)).sum().backward()
    assert x.grad.tolist() == [3.0, 4.0] and y.grad is None


def test_cat_errors(device):
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        gpunet.cat([gpunet.ones(2, 3, device=device), gpunet.ones(2, 4, device=device)])
    with pytest.raises(RuntimeError, match="non-empty"):
        gpunet.cat([])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        gpunet.stack([gpunet.ones(2, device=device), gpunet.ones(3, device=device)])
    empty = gpunet.ones(0, device=device)  # a legacy empty 1-d tensor is skipped
    assert gpunet.cat([empty, gpunet.ones(2, 3, device=device)]).shape == (2, 3)


def test_gather_scatter_index_select(device):
    idx = np.array([[0, 2, 1, 0], [2, 2, 0, 1]])
    check_op(lambda x, i: x.gather(0, i), (3, 4), idx, device=device)
    check_op(lambda x, i: x.gather(1, i[:, :2]), (3, 4), idx, device=device)
    check_op(lambda x, i: lib(x).gather(x, -1, i), (2, 3), idx[:, :3], device=device)
    check_op(lambda x, i: x.index_select(0, i[0]), (3, 4), idx, device=device)
    check_op(lambda x, i: x.index_select(-1, i[1]), (3, 3), idx, device=device)
    uniq = np.array([[0, 1, 2, 0], [1, 2, 0, 1]])  # no duplicate targets per column: scatter is deterministic
    check_op(lambda x, i, s: x.scatter(0, i, s), (3, 4), uniq, (2, 4), device=device)
    check_op(lambda x, i, s: x.scatter_add(0, i, s), (3, 4), idx, (2, 4), device=device)
    check_op(lambda x, i: x.scatter(1, i[:, :2], 0.5), (2, 4), idx, device=device)
    check_op(lambda x, i, s: x.scatter(1, i, s), (2, 4), np.array([[0, 3], [2, 1]]), (2, 2), device=device)


def test_gather_and_scatter_of_0_d_tensors_as_torch(device):
    # a 0-d input and index act as one-element vectors (dim 0 or -1)
    check_op(lambda x, i: x.gather(0, i), (), np.array(0), device=device)
    check_op(lambda x, i, s: x.scatter_add(-1, i, s), (), np.array(0), (), device=device)
    check_op(lambda x, i: x.scatter(0, i, 2.5), (), np.array(0), device=device)
    with pytest.raises(RuntimeError, match="out of bounds for dimension 0 with size 1"):
        gpunet.tensor(3.0, device=device).gather(0, gpunet.tensor(1, device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync


def test_gather_and_scatter_add_along_a_middle_dim(device):
    # kernels' add_along_axis: the gather's gradient and scatter_add, with repeated indices, along dim 1 of
    # 3-D tensors; the scatter's index smaller than self off the dim
    idx = np.random.default_rng(2).integers(0, 3, (2, 5, 4))
    check_op(lambda x, i: x.gather(1, i), (2, 3, 4), idx, device=device)
    check_op(lambda x, i: x.gather(-1, i[:, :3, :2]), (2, 3, 4), idx, device=device)
    check_op(lambda x, i, s: x.scatter_add(1, i[:, :4, :3], s), (2, 3, 4), idx, (2, 4, 3), device=device)


def test_scatter_add_accumulates_duplicates(device):
    x = gpunet.zeros(3, device=device)
    out = x.scatter_add(0, gpunet.tensor([0, 0, 2, 0], device=device), gpunet.ones(4, device=device))
    assert out.tolist() == [3.0, 0.0, 1.0]
    y = gpunet.zeros(2, 3, device=device)
    y.scatter_(1, gpunet.tensor([[2], [0]], device=device), 5.0)
    assert y.tolist() == [[0, 0, 5], [5, 0, 0]]


def test_gather_errors(device):
    x = gpunet.ones(3, 4, device=device)
    with pytest.raises(RuntimeError, match="index out of bounds"):
        x.gather(1, gpunet.tensor([[4]], device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync
    with pytest.raises(RuntimeError, match="Expected dtype int64 for index"):
        x.gather(1, gpunet.tensor([[1.0]], device=device))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, gpunet.tensor([1], device=device))
    with pytest.raises(IndexError, match="out of range"):
        x.index_select(0, gpunet.tensor([3], device=device))
        gpunet.cuda.synchronize()  # a device assert: on cuda it raises at a sync


def test_index_backward_accumulates_repeats(device):
    x = gpunet.ones(3, requires_grad=True, device=device)
    x[gpunet.tensor([0, 0, 2, 0], device=device)].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_getitem_errors(device):
    x = gpunet.ones(2, 3, device=device)
    with pytest.raises(IndexError, match=r"shape \[2, 3\]"):
        x[5]
    with pytest.raises(IndexError, match="tensors used as indices must be long, int, byte or bool"):
        x[gpunet.tensor([0.0], device=device)]


def test_views_share_memory_and_version(device):
    base = gpunet.zeros(2, 3, device=device)
    for v in (base.view(6), base[0], base.t(), base.unsqueeze(0), base.reshape(3, 2), base[:, 1:],
              base.transpose(0, 1), base.expand(4, 2, 3), base.squeeze(), base.flatten(), base[..., None],
              base.narrow(1, 0, 2), base.select(0, 1)):
        if device == "cpu":  # np.shares_memory needs host arrays
            assert np.shares_memory(v.numpy(), base.numpy())
        before = base._version
        if v.shape != (4, 2, 3):  # an expanded tensor cannot be written (torch refuses too)
            v.fill_(1.0)
            assert base._version == before + 1
    if device == "cpu":
        assert not np.shares_memory(base[[0, 1]].numpy(), base.numpy())  # advanced indexing copies
        assert not np.shares_memory(base.clone().numpy(), base.numpy())
        assert not np.shares_memory(base.repeat(1, 1).numpy(), base.numpy())


def test_view_errors(device):
    x = gpunet.ones(2, 3, device=device)
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        x.view(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.view(-1, -1)
    with pytest.raises(RuntimeError, match="view size is not compatible with input tensor's size and stride"):
        x.t().view(6)
    assert x.t().reshape(6).shape == (6,)
    with pytest.raises(RuntimeError, match="The expanded size of the tensor"):
        x.expand(2, 4)
    with pytest.raises(RuntimeError, match="does not match the length of the desired ordering"):
        x.permute(0)


def test_size_and_shape(device):
    x = gpunet.ones(2, 3, 4, device=device)
    assert x.size() == (2, 3, 4) and x.shape == gpunet.Size([2, 3, 4])
    assert x.size(1) == 3 and x.size(-1) == 4 and x.shape[1:] == (3, 4)
    assert isinstance(x.shape[1:], gpunet.Size) and repr(x.shape) == "gpunet.Size([2, 3, 4])"
    assert x.dim() == 3 and x.ndim == 3 and x.numel() == 24 and x.shape.numel() == 24 and len(x) == 2
    with pytest.raises(IndexError):
        x.size(3)


def test_squeeze_unsqueeze_edge_cases(device):
    x = gpunet.ones(1, 3, 1, device=device)
    assert x.squeeze().shape == (3,)
    assert x.squeeze(1).shape == (1, 3, 1)  # non-1 dim: no-op
    assert x.squeeze(-1).shape == (1, 3)
    assert x.squeeze((0, 2)).shape == (3,)
    assert gpunet.tensor(5.0, device=device).unsqueeze(0).shape == (1,)
    assert gpunet.tensor(5.0, device=device).squeeze().shape == ()
    assert x.unsqueeze(3).shape == (1, 3, 1, 1)
    with pytest.raises(IndexError):
        x.unsqueeze(5)


def test_split_chunk_shapes_match_torch(device):
    torch = pytest.importorskip("torch")
    for n, arg, dim in [(10, 3, 0), (10, [2, 8], 0), (7, 7, 0), (6, 4, 0)]:
        a = np.arange(n * 2.0).reshape(n, 2)
        mine = [tuple(t.shape) for t in gpunet.tensor(a, device=device).split(arg, dim)]
        ref = [tuple(t.shape) for t in torch.tensor(a).split(arg, dim)]
        assert mine == ref
    for n, chunks in [(10, 3), (5, 2), (6, 4), (1, 3), (7, 7)]:
        mine = [tuple(t.shape) for t in gpunet.arange(n, device=device).chunk(chunks)]
        ref = [tuple(t.shape) for t in torch.arange(n).chunk(chunks)]
        assert mine == ref, (n, chunks)


def test_where_masked_fill_values(device):
    x = gpunet.tensor([[1.0, -2.0], [3.0, -4.0]], device=device)
    assert gpunet.where(x > 0, x, gpunet.zeros(1, device=device)).tolist() == [[1.0, 0.0], [3.0, 0.0]]
    assert x.where(x < 0, 9.0).tolist() == [[9.0, -2.0], [9.0, -4.0]]
    assert x.masked_fill(x < 0, 0.0).tolist() == [[1.0, 0.0], [3.0, 0.0]]
    mask, value = gpunet.tensor([True, False], device=device), gpunet.tensor(7.0, device=device)
    assert x.masked_fill(mask, value).tolist() == [[7.0, -2.0], [7.0, -4.0]]
    with pytest.raises(RuntimeError, match="masked_fill only supports boolean masks"):
        x.masked_fill(gpunet.tensor([1, 0], device=device), 0.0)
    rows, cols = gpunet.where(x > 0)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 0]
    assert (x > 0).nonzero().tolist() == [[0, 0], [1, 0]]
    assert x.masked_select(x > 0).tolist() == [1.0, 3.0]


def test_masked_fill_grad_through_value_tensor(device):
    torch = pytest.importorskip("torch")
    mask = np.array([True, False, True])
    v = gpunet.tensor(2.0, requires_grad=True, device=device)
    x = gpunet.ones(3, requires_grad=True, device=device)
    weights = gpunet.tensor([1.0, 2.0, 3.0], device=device)
    (x.masked_fill(gpunet.tensor(mask, device=device), v) * weights).sum().backward()
    tv = torch.tensor(2.0, requires_grad=True)
    tx = torch.ones(3, requires_grad=True)
    (tx.masked_fill(torch.tensor(mask), tv) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert v.grad.item() == tv.grad.item() and x.grad.tolist() == tx.grad.tolist()


def test_expand_as_broadcast_tensors(device):
    check_op(lambda x, y: x.expand_as(y) * y, (3, 1), (2, 3, 4), device=device)
    check_op(lambda x, y: lib(x).broadcast_tensors(x, y)[0] * 2, (3, 1), (1, 4), device=device)
    check_op(lambda x: lib(x).broadcast_to(x, (2, 3)), (3,), device=device)


@pytest.mark.parametrize("name,fn", [
    ("one piece of a split", lambda x: x.split(2, dim=0)[1] * 3),
    ("two of unbind's pieces", lambda x: x.unbind(1)[0] * x.unbind(1)[2]),
    ("chunk pieces recombined", lambda x: lib(x).cat(x.chunk(3, 1)[::-1], 1).sin()),
])
def test_pieces_left_unused_get_zero_gradients(name, fn, device):
    check_op(fn, (5, 3), device=device)


def test_split_is_one_node_whose_pieces_are_views_sharing_the_version(device):
    x = gpunet.tensor(np.arange(12.0).reshape(4, 3), device=device, requires_grad=True)
    pieces = x.unbind(0)
    assert {p.grad_fn.name() for p in pieces} == {"UnbindBackward0"}
    assert len({id(p.grad_fn) for p in pieces}) == 1
    assert x.split(1)[0].grad_fn.name() == "SplitWithSizesBackward0"
    y = x.detach()
    a, b = y.split(2)
    a[0, 0] = 100.0  # a view: the base sees it
    assert y[0, 0].item() == 100.0 and y._vc is a._vc is b._vc


def test_unbind_has_second_derivatives(device):
    x = gpunet.tensor(np.linspace(-1, 1, 6).reshape(2, 3), device=device, requires_grad=True)
    assert gpunet.autograd.gradgradcheck(lambda t: (t.unbind(0)[0] * t.unbind(0)[1]).sin(), [x])


PIECES = [lambda x: x.split(2)[0], lambda x: x.chunk(2, 1)[1], lambda x: x.unbind(0)[1]]


@pytest.mark.parametrize("take", PIECES)
def test_in_place_on_a_piece_of_a_tensor_that_requires_grad_is_refused(take, device):
    x = gpunet.tensor(np.arange(12.0).reshape(4, 3), device=device, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="in-place operation on a view"):
        take(x).mul_(2)
    base = gpunet.tensor(np.arange(12.0).reshape(4, 3), device=device)  # no grad: writes through
    piece = take(base)
    piece.mul_(0)
    assert float(piece.abs().sum()) == 0.0 and float(base.sum()) < 66.0  # 66 = 0 + 1 + ... + 11


def test_int_index_is_a_view_with_the_shape_in_its_errors(device):
    """x[i] with a Python int (the fast path of getitem): a view sharing the version counter, a 0-d view of
    a vector's element, negative from the end, its gradient in place, out of range named with the shape."""
    x = gpunet.tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    row, last = x[1], x[-1][2]
    assert row.tolist() == [3.0, 4.0, 5.0] and last.shape == () and last.item() == 5.0
    assert row._vc is x._vc and row.grad_fn.name() == "IndexBackward0"
    (row * 2).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]]
    y = x.detach()
    y[0][1] = 9.0  # through the view
    assert y.tolist()[0] == [0.0, 9.0, 2.0]
    with pytest.raises(IndexError, match=r"out of bounds.*indexing a tensor of shape \[2, 3\]"):
        x[2]
    with pytest.raises(IndexError, match="indexing a tensor of shape"):
        gpunet.tensor(1.0, device=device)[0]


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing, device):
    def grids(x, y, z):
        return tuple(g * (k + 1) for k, g in enumerate(lib(x).meshgrid(x, y, z, indexing=indexing)))
    check_op(grids, (3,), (2,), (), device=device)
    a, b = gpunet.arange(3), gpunet.arange(2)
    gx, gy = gpunet.meshgrid([a, b], indexing=indexing)
    want = np.meshgrid(np.arange(3), np.arange(2), indexing=indexing)
    assert gx.tolist() == want[0].tolist() and gy.tolist() == want[1].tolist()
    assert gpunet.meshgrid(a, b)[0].shape == (3, 2)  # 'ij' by default
    with pytest.raises(RuntimeError, match="0D or 1D"):
        gpunet.meshgrid(gpunet.ones(2, 2), a)


def test_diff(device):
    check_op(lambda x: x.diff(), (3, 5), device=device)
    check_op(lambda x: lib(x).diff(x, n=2, dim=0), (4, 3), device=device)
    check_op(lambda x, p, q: lib(x).diff(x, dim=1, prepend=p, append=q), (2, 3), (2, 1), (2, 2),
             device=device)
    assert gpunet.diff(gpunet.tensor([1, 4, 9, 16]), n=2).tolist() == [2, 2]
    assert gpunet.diff(gpunet.tensor([True, False, False])).tolist() == [True, False]
    assert gpunet.diff(gpunet.tensor([1.0]), n=3).shape == (0,)


def test_atleast_nd():
    s, v, m = gpunet.tensor(1.0), gpunet.ones(3), gpunet.ones(2, 3)
    assert [t.shape for t in gpunet.atleast_1d(s, v)] == [(1,), (3,)]
    assert [gpunet.atleast_2d(t).shape for t in (s, v, m)] == [(1, 1), (1, 3), (2, 3)]
    assert [gpunet.atleast_3d(t).shape for t in (s, v, m)] == [(1, 1, 1), (1, 3, 1), (2, 3, 1)]
    assert gpunet.atleast_3d([v])[0].shape == (1, 3, 1)
    assert gpunet.moveaxis(m, 0, 1).shape == (3, 2)
