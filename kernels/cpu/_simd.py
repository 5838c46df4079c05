"""float32 vectors as values inside @njit code: register-blocked loops that LLVM's vectoriser cannot write.

LLVM vectorises a Numba loop over its innermost index only, so a loop nest that should keep many partial
sums in registers (a convolution's output pixels for several channels, summed over every tap) compiles to
loads and stores of those sums on every pass instead. Here a vector of LANES float32 values is a Numba
type whose LLVM representation is ``<LANES x float>``, and a block of k of them (Numba's UniTuple, an LLVM
array of vectors) is one value, so such sums live in registers for as long as the loop holds them:

- ``vload(a, i)``: a[i:i + LANES] of a 1-D contiguous float32 array, as a vector (no bounds check: the
  caller guarantees i + LANES <= a.size; the same contract for every read and write below);
- ``vsplats(a, i, k)``: a block of k vectors (k a compile-time constant), vector j with every lane a[i + j];
- ``vfmas(block, x, a, i)``: vector j of the block plus x * a[i + j], one rounding per lane (LLVM's fma:
  one instruction per register where the CPU has FMA, and with AVX-512 the scalar broadcast from memory
  inside it);
- ``vstores(a, i, step, count, block)``: a[i + j * step:][:LANES] = vector j of the block, for j < count;
- ``vloads(a, i, step, k)``: a block of k vectors, vector j = a[i + j * step:][:LANES];
- ``vtranspose(block)``: a block of LANES vectors transposed (lane i of vector j becomes lane j of vector i),
  by log2(LANES) rounds that interleave the low and the high halves of vectors j and j + LANES / 2 (a
  16 x 16 tile in 64 two-register shuffles where a scalar copy takes 256 loads and 256 stores).

LANES is 16 (one AVX-512 register) where the host has AVX-512, else 8 (one AVX2 register); the results
do not depend on it. Numba's cache is per CPU, so a cached kernel never meets another LANES.
"""
import llvmlite.binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

__all__ = ["LANES", "vfmas", "vload", "vloads", "vsplats", "vstores", "vtranspose"]

LANES = 16 if llvmlite.binding.get_host_cpu_features().get("avx512f") else 8
_VECTOR = ir.VectorType(ir.FloatType(), LANES)


class Float32Vector(types.Type):
    def __init__(self):
        super().__init__(name=f"float32x{LANES}")


float32_vector = Float32Vector()


@register_model(Float32Vector)
class _Float32VectorModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VECTOR)


def _float32_array(a):
    return isinstance(a, types.Array) and a.dtype == types.float32 and a.ndim == 1 and a.layout == "C"


def _element_pointer(context, builder, array_type, array, index_type, index):
    data = context.make_array(array_type)(context, builder, array).data
    return builder.gep(data, [context.cast(builder, index, index_type, types.intp)])


def _vector_pointer(context, builder, array_type, array, index_type, index):
    return builder.bitcast(_element_pointer(context, builder, array_type, array, index_type, index),
                           _VECTOR.as_pointer())


def _splat(builder, s):
    one = builder.insert_element(ir.Constant(_VECTOR, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(one, ir.Constant(_VECTOR, ir.Undefined),
                                  ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))


@intrinsic
def vload(typingctx, a, i):
    """a[i:i + LANES] as a vector (a: 1-D contiguous float32; unchecked)."""
    if not (_float32_array(a) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        return builder.load(_vector_pointer(context, builder, sig.args[0], args[0], sig.args[1], args[1]),
                            align=4)

    return float32_vector(a, i), codegen


def _scalar(context, builder, array_type, array, index):
    return builder.load(_element_pointer(context, builder, array_type, array, types.intp, index), align=4)


@intrinsic
def vsplats(typingctx, a, i, k):
    """A block of k vectors (k: a compile-time constant), vector j with every lane a[i + j] (a: 1-D
    contiguous float32; unchecked)."""
    if not (_float32_array(a) and isinstance(i, types.Integer) and isinstance(k, types.IntegerLiteral)):
        return None
    count = k.literal_value

    def codegen(context, builder, sig, args):
        first = context.cast(builder, args[1], sig.args[1], types.intp)
        block = ir.Constant(ir.ArrayType(_VECTOR, count), ir.Undefined)
        for j in range(count):
            s = _scalar(context, builder, sig.args[0], args[0], builder.add(first, first.type(j)))
            block = builder.insert_value(block, _splat(builder, s), j)
        return block

    return types.UniTuple(float32_vector, count)(a, i, k), codegen


@intrinsic
def vfmas(typingctx, block, x, a, i):
    """The block with a[i + j] * x added to its vector j, rounded once per lane (x: a vector; a: 1-D
    contiguous float32; unchecked)."""
    if not (isinstance(block, types.UniTuple) and block.dtype == float32_vector and x == float32_vector
            and _float32_array(a) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_VECTOR, [_VECTOR] * 3),
                                             f"llvm.fma.v{LANES}f32")
        first = context.cast(builder, args[3], sig.args[3], types.intp)
        out = args[0]
        for j in range(block.count):
            s = _scalar(context, builder, sig.args[2], args[2], builder.add(first, first.type(j)))
            out = builder.insert_value(out, builder.call(
                fma, [args[1], _splat(builder, s), builder.extract_value(args[0], j)]), j)
        return out

    return block(block, x, a, i), codegen


@intrinsic
def vstores(typingctx, a, i, step, count, block):
    """a[i + j * step:][:LANES] = the block's vector j, for j < count (a: 1-D contiguous float32;
    unchecked)."""
    if not (_float32_array(a) and isinstance(i, types.Integer) and isinstance(step, types.Integer)
            and isinstance(count, types.Integer) and isinstance(block, types.UniTuple)
            and block.dtype == float32_vector):
        return None

    def codegen(context, builder, sig, args):
        at, stride, n = (context.cast(builder, v, t, types.intp) for v, t in zip(args[1:4], sig.args[1:4]))
        for j in range(block.count):
            with builder.if_then(builder.icmp_signed(">", n, n.type(j)), likely=True):
                index = builder.add(at, builder.mul(stride, stride.type(j)))
                pointer = _vector_pointer(context, builder, sig.args[0], args[0], types.intp, index)
                builder.store(builder.extract_value(args[4], j), pointer, align=4)
        return context.get_dummy_value()

    return types.none(a, i, step, count, block), codegen


@intrinsic
def vloads(typingctx, a, i, step, k):
    """A block of k vectors (k: a compile-time constant), vector j = a[i + j * step:][:LANES] (a: 1-D
    contiguous float32; unchecked)."""
    if not (_float32_array(a) and isinstance(i, types.Integer) and isinstance(step, types.Integer)
            and isinstance(k, types.IntegerLiteral)):
        return None
    count = k.literal_value

    def codegen(context, builder, sig, args):
        at, stride = (context.cast(builder, v, t, types.intp) for v, t in zip(args[1:3], sig.args[1:3]))
        block = ir.Constant(ir.ArrayType(_VECTOR, count), ir.Undefined)
        for j in range(count):
            index = builder.add(at, builder.mul(stride, stride.type(j)))
            pointer = _vector_pointer(context, builder, sig.args[0], args[0], types.intp, index)
            block = builder.insert_value(block, builder.load(pointer, align=4), j)
        return block

    return types.UniTuple(float32_vector, count)(a, i, step, k), codegen


@intrinsic
def vtranspose(typingctx, block):
    """The block of LANES vectors transposed: lane i of its vector j is lane j of the result's vector i."""
    if not (isinstance(block, types.UniTuple) and block.dtype == float32_vector and block.count == LANES):
        return None
    half = LANES // 2
    mask = ir.VectorType(ir.IntType(32), LANES)
    low = ir.Constant(mask, [k // 2 + (k % 2) * LANES for k in range(LANES)])  # a0 b0 a1 b1 ...
    high = ir.Constant(mask, [half + k // 2 + (k % 2) * LANES for k in range(LANES)])

    def codegen(context, builder, sig, args):
        rows = [builder.extract_value(args[0], j) for j in range(LANES)]
        for _ in range(LANES.bit_length() - 1):  # log2(LANES) rounds
            rows = [builder.shuffle_vector(rows[j], rows[j + half], order)
                    for j in range(half) for order in (low, high)]
        out = ir.Constant(ir.ArrayType(_VECTOR, LANES), ir.Undefined)
        for j, row in enumerate(rows):
            out = builder.insert_value(out, row, j)
        return out

    return block(block), codegen
