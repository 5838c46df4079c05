"""Compile every CUDA kernel of the package for real GPUs and inspect it, on a machine with no GPU.

``python -m kernels.compile_check [--json PATH] [--cc 80,90]`` runs in two phases:

1. ``record`` (a subprocess, Numba's CUDA simulator ON): every public launcher of kernels.cuda, and the
   bench's roof pass, runs on tiny float16/float32/float64 inputs while kernels.cuda._launch hands each
   launch to a recorder: the kernel, ``numba.typeof`` of every argument exactly as launched, and the block
   size. The signatures therefore come from the launchers themselves, not from a list kept by hand.
2. ``ptx`` (this process, simulator OFF): each recorded (kernel, signature) is compiled with
   ``numba.cuda.compile_ptx`` for sm_80 and sm_90 (no GPU or driver needed) and assembled with
   ``ptxas -v``, which reports registers, spills, stack and shared memory; the PTX is searched for
   float64 instructions.

It prints one row per kernel, dtype and cc, and exits non-zero when a kernel does not compile, spills or
uses local memory, computes in float64 in a float32 instantiation, or when a declared kernel and dtype
was never launched (or launched in a dtype it does not declare).
Nothing here is imported by kernels.cuda; numba is imported only inside the phases.
"""
