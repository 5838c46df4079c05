"""einsum: Einstein summation over any number of operands, with PyTorch's rules.

The equation is parsed once into explicit letters: '...' becomes letters of its own (the broadcast
ellipsis dims, right-aligned across operands), an implicit output is the ellipsis dims then the letters
seen exactly once in alphabetical order (A-Z before a-z). Operands are broadcast to the letters' sizes
(a size-1 dim broadcasts, as in PyTorch). Forward is one contraction (_contract); the gradient of operand
k is one contraction of the output gradient with the other operands, expanded over letters only operand k
has, put back on the diagonal where operand k repeats a letter, and summed back over its broadcast dims.
"""
import math
import string

from gpunet.amp import _policy as _amp
from gpunet.autograd.function import Op
from gpunet.autograd.higher_order import const, saved
from gpunet.ops._util import unbroadcast
from gpunet.ops._util import unbroadcast_tensor as unbroadcast_t
from gpunet.tensor import Tensor

_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # PyTorch's order for an implicit output


def _error(msg):
    return RuntimeError(f"einsum(): {msg}")


def _parse(equation, shapes):
    """(input subscripts as strings of explicit letters, output subscripts, {letter: size})."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(shapes):
        raise _error("fewer operands were provided than specified in the equation")
    if len(terms) < len(shapes):
        raise _error("more operands were provided than specified in the equation")
    used = set(c for c in eq if c.isalpha())
    free = [c for c in _LETTERS if c not in used]
    ell_ndim = 0
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        body = term.replace("...", "")
        bad = [c for c in body if c not in _LETTERS]
        if bad or term.count("...") > 1:
            raise _error(f"invalid subscript given at index {lhs.find(term)} in the equation string, "
                         "subscripts must be in [a-zA-Z]")
        if "..." in term:
            if len(body) > len(shape):
                raise _error(f"the number of subscripts in the equation ({len(body)}) is more than the "
                             f"number of dimensions ({len(shape)}) for operand {i}")
            ell_ndim = max(ell_ndim, len(shape) - len(body))
        elif len(body) != len(shape):
            raise _error(f"the number of subscripts in the equation ({len(body)}) does not match the number "
                         f"of dimensions ({len(shape)}) for operand {i} and no ellipsis was given")
    if ell_ndim > len(free):
        raise _error("too many dimensions: einsum has 52 subscript letters")
    ell = "".join(free[:ell_ndim])
    subs = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            n = len(shape) - len(term.replace("...", ""))
            term = term.replace("...", ell[ell_ndim - n:])
        subs.append(term)
    sizes = {}
    for i, (term, shape) in enumerate(zip(subs, shapes)):
        for c, s in zip(term, shape):
            old = sizes.get(c, 1)
            if old != s and old != 1 and s != 1:
                what = (f"dimension {ell.index(c)} covered by ellipsis in operand {i}" if c in ell
                        else f"subscript {c} has size {s} for operand {i} which")
                raise _error(f"{what} does not broadcast with previously seen size {old}")
            sizes[c] = max(old, s)
    if arrow:
        if rhs.count("...") > 1 or any(c not in _LETTERS for c in rhs.replace("...", "")):
            raise _error("invalid output subscripts, subscripts must be in [a-zA-Z]")
        out = rhs.replace("...", ell) if "..." in rhs else rhs
        seen = set()
        for c in rhs.replace("...", ""):
            if c in seen:
                raise _error(f"output subscript {c} appears more than once in the output")
            if c not in sizes:
                raise _error(f"output subscript {c} does not appear in the equation for any input operand")
            seen.add(c)
    else:
        counts = {}
        for term in subs:
            for c in term:
                if c not in ell:
                    counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(c for c in _LETTERS if counts.get(c) == 1)
    return subs, out, sizes


class Einsum(Op):
    _backward_name = "EinsumBackward"  # PyTorch records the products einsum decomposes into

    @staticmethod
    def forward(ctx, parsed, *arrays):
        subs, out, sizes = parsed
        xp = ctx.device.xp
        full = _broadcast(xp, arrays, subs, sizes)
        ctx.save_for_backward(*arrays)  # the inputs themselves, so create_graph's saved() finds them
        ctx.parsed = parsed
        ctx.shapes = [a.shape for a in arrays]
        return _contract(xp, subs, out, full)

    @staticmethod
    def backward(ctx, g):
        subs, out, sizes = ctx.parsed
        xp = ctx.device.xp
        full = _broadcast(xp, ctx.saved_tensors, subs, sizes)
        grads = [None]
        for k, s in enumerate(subs):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(subs) if j != k]
            reachable = set(out).union(*others)
            unique = "".join(dict.fromkeys(s))
            kept = "".join(c for c in unique if c in reachable)
            arrays = [g] + [a for j, a in enumerate(full) if j != k]
            gd = _contract(xp, [out] + others, kept, arrays)
            if kept != unique:  # letters only operand k has: their sum broadcasts back
                gd = gd.reshape(tuple(sizes[c] if c in kept else 1 for c in unique))
                gd = xp.broadcast_to(gd, tuple(sizes[c] for c in unique))
            if unique != s:  # repeated letters: the gradient lives on the diagonal
                first = {}
                shape = []
                for p, c in enumerate(s):
                    shape.append(sizes[c] if c not in first else 1)
                    first.setdefault(c, p)
                gd = gd.reshape(shape)
                for p, c in enumerate(s):
                    q = first[c]
                    if q != p:
                        eye_shape = [1] * len(s)
                        eye_shape[q] = eye_shape[p] = sizes[c]
                        gd = gd * xp.eye(sizes[c], dtype=gd.dtype).reshape(eye_shape)
                gd = xp.broadcast_to(gd, tuple(sizes[c] for c in s))
            gd = xp.ascontiguousarray(unbroadcast(gd, ctx.shapes[k])).reshape(ctx.shapes[k])  # 0-d stays 0-d
            grads.append(gd.astype(g.dtype, copy=False))
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx, g):
        """As backward, with each gradient an Einsum of g and the other operands (so it differentiates
        again), the expansion and the diagonal as differentiable ops."""
        subs, out, sizes = ctx.parsed
        operands = saved(ctx)
        grads = [None]
        for k, s in enumerate(subs):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
                continue
            others = [t for j, t in enumerate(subs) if j != k]
            unique = "".join(dict.fromkeys(s))
            kept = "".join(c for c in unique if c in set(out).union(*others))
            rest = [a for j, a in enumerate(operands) if j != k]
            gd = Einsum.apply(([out] + others, kept, sizes), g, *rest)
            if kept != unique:  # letters only operand k has: their sum broadcasts back
                gd = gd.reshape(tuple(sizes[c] if c in kept else 1 for c in unique))
                gd = gd.expand(tuple(sizes[c] for c in unique))
            if unique != s:  # repeated letters: the gradient lives on the diagonal (times constant eyes)
                gd = gd.reshape(tuple(1 if s.index(c) != p else sizes[c] for p, c in enumerate(s)))
                for p, c in enumerate(s):
                    q = s.index(c)
                    if q != p:
                        eye_shape = [1] * len(s)
                        eye_shape[q] = eye_shape[p] = sizes[c]
                        eye = ctx.device.xp.eye(sizes[c], dtype=g._data.dtype).reshape(eye_shape)
                        gd = gd * const(ctx, eye)
                gd = gd.expand(tuple(sizes[c] for c in s))
            grads.append(unbroadcast_t(gd, ctx.shapes[k]))
        return tuple(grads)


def _broadcast(xp, arrays, subs, sizes):
    """Each operand broadcast to its letters' sizes (a size-1 dim broadcasts, as in PyTorch)."""
    return [xp.broadcast_to(a, tuple(sizes[c] for c in s)) if a.shape != tuple(sizes[c] for c in s) else a
            for a, s in zip(arrays, subs)]


def einsum(equation, *operands):
    """torch.einsum(equation, *operands), operands also as one list or tuple."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): argument 'equation' must be str, not {type(equation).__name__}")
    for i, t in enumerate(operands):
        if not isinstance(t, Tensor):
            raise TypeError(f"einsum(): operand {i} must be a Tensor, not {type(t).__name__}")
    if not operands:
        raise _error("must provide at least one operand")
    if _amp.state.on:  # autocast
        operands = _amp.cast("einsum", *operands)
    dtype = operands[0].dtype
    for t in operands[1:]:
        if t.dtype != dtype:
            raise RuntimeError(f"einsum(): operands must have one dtype, got {dtype} and {t.dtype}")
    parsed = _parse(equation, [tuple(t._data.shape) for t in operands])
    return Einsum.apply(parsed, *operands)


def _contract(xp, subs, out, arrays):
    """xp.einsum of arrays with subscripts subs into out. Two operands without a repeated letter are one
    batched matmul, as PyTorch does (letters of one operand only summed first; the batch letters, the
    rows', the contracted and the columns' each flattened): NumPy's einsum runs its own loops there, not
    BLAS ("bhqd,bhkd->bhqk" of (16, 4, 128, 64) operands, forward and backward, 38 ms against PyTorch's 5)."""
    if len(arrays) != 2 or any(len(set(t)) != len(t) for t in subs):
        return xp.einsum(f"{','.join(subs)}->{out}", *arrays, optimize=len(arrays) > 2)
    (sa, sb), (a, b) = subs, arrays
    sa, a = _sum_unshared(xp, sa, a, sb + out)
    sb, b = _sum_unshared(xp, sb, b, sa + out)
    batch = [c for c in out if c in sa and c in sb]
    rows = [c for c in out if c in sa and c not in sb]
    cols = [c for c in out if c in sb and c not in sa]
    inner = [c for c in sa if c in sb and c not in out]
    size = {c: n for t, arr in ((sa, a), (sb, b)) for c, n in zip(t, arr.shape)}
    dims = [math.prod(size[c] for c in group) for group in (batch, rows, inner, cols)]
    left = xp.transpose(a, [sa.index(c) for c in batch + rows + inner]).reshape(dims[0], dims[1], dims[2])
    right = xp.transpose(b, [sb.index(c) for c in batch + inner + cols]).reshape(dims[0], dims[2], dims[3])
    product = xp.matmul(left, right).reshape([size[c] for c in batch + rows + cols])
    order = batch + rows + cols
    return xp.transpose(product, [order.index(c) for c in out])


def _sum_unshared(xp, sub, a, elsewhere):
    """(sub, a) with the letters that appear nowhere in `elsewhere` summed away."""
    gone = [p for p, c in enumerate(sub) if c not in elsewhere]
    if not gone:
        return sub, a
    return "".join(c for c in sub if c in elsewhere), a.sum(axis=tuple(gone))
