"""linear (x @ W^T + b as one fused Op, gpunet.ops.linear) and bilinear."""
from gpunet.amp import _policy as _amp
from gpunet.nn.functional._common import check_same_device, check_tensor
from gpunet.ops.linalg import matmul
from gpunet.ops.linear import Linear

__all__ = ["linear", "bilinear"]


def _mm_error(x, w, where):
    rows = x._data.size // max(x._data.shape[-1], 1) if x._data.ndim else 1
    k = x._data.shape[-1] if x._data.ndim else 1
    return RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{k} and {w._data.shape[1]}x"
                        f"{w._data.shape[0]}){where}: input has shape {list(x._data.shape)}, weight has "
                        f"shape {list(w._data.shape)} (expected input[..., {w._data.shape[1]}])")


def linear(input, weight, bias=None):
    """y = input @ weight^T + bias; input (..., in_features), weight (out_features, in_features)."""
    check_tensor(input, "input", "linear")
    check_tensor(weight, "weight", "linear")
    if _amp.state.on:  # autocast
        input, weight, bias = _amp.cast("linear", input, weight, bias)
    if weight._data.ndim != 2:
        if weight._data.ndim == 1:
            out = matmul(input, weight)
            return out if bias is None else out + bias
        raise RuntimeError(f"linear(): weight must be 1-D or 2-D, got shape {list(weight._data.shape)}")
    if input._data.ndim == 0 or input._data.shape[-1] != weight._data.shape[1]:
        raise _mm_error(input, weight, "")
    dtype = input._data.dtype
    if weight._data.dtype != dtype or (bias is not None and bias._data.dtype != dtype):
        with_bias = "" if bias is None else f", bias {bias.dtype}"
        raise RuntimeError("linear(): expected input, weight and bias to have the same dtype, but got "
                           f"input {input.dtype}, weight {weight.dtype}{with_bias}")
    check_same_device("linear", input, weight, bias)
    if bias is not None and bias._data.shape != (weight._data.shape[0],):
        return linear(input, weight) + bias  # a broadcastable bias of another shape: not the fused path
    if input._data.ndim == 1:
        return Linear.apply(input.reshape(1, -1), weight, bias).reshape(-1)
    return Linear.apply(input, weight, bias)


def bilinear(input1, input2, weight, bias=None):
    """y_k = x1^T A_k x2 + b_k; input1 (..., in1), input2 (..., in2), weight (out, in1, in2)."""
    for name, t in (("input1", input1), ("input2", input2), ("weight", weight)):
        check_tensor(t, name, "bilinear")
    if weight._data.ndim != 3:
        raise RuntimeError("bilinear(): weight must be 3-D (out_features, in1_features, in2_features), got "
                           f"shape {list(weight._data.shape)}")
    out_f, in1, in2 = weight._data.shape
    if input1._data.shape[-1:] != (in1,) or input2._data.shape[-1:] != (in2,):
        raise RuntimeError(f"bilinear(): input1 {list(input1._data.shape)} and input2 "
                           f"{list(input2._data.shape)} do not match weight {list(weight._data.shape)} "
                           f"(expected input1[..., {in1}] and input2[..., {in2}])")
    if input1._data.shape[:-1] != input2._data.shape[:-1]:
        raise RuntimeError(f"bilinear(): input1 and input2 must have the same batch dims, got "
                           f"{list(input1._data.shape)} and {list(input2._data.shape)}")
    lead = input1._data.shape[:-1]
    x1 = input1.reshape(-1, in1)
    x2 = input2.reshape(-1, in2)
    # (B, in1) @ (in1, out*in2) -> (B, out, in2), then contract in2 with x2
    t = matmul(x1, weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    y = (t * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(lead + (out_f,))
