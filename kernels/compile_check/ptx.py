"""Phase 2 of kernels.compile_check: compile one kernel signature for a real GPU and inspect the result.

Needs numba-cuda (its NVVM, through ``numba.cuda.compile_ptx``: no GPU or driver) and ``ptxas``; must run
with Numba's CUDA simulator OFF (``GPUNET_CUDA_SIM`` / ``NUMBA_ENABLE_CUDASIM`` unset before numba.cuda
is imported): the simulator has no compiler.
"""
import glob
import importlib.util
import math
import os
import re
import shutil
import subprocess
import tempfile

# Per-SM limits for the occupancy estimate, from NVIDIA's CUDA C++ Programming Guide ("Technical
# Specifications per Compute Capability") and the CUDA occupancy calculator's allocation rules. 8.0 (A100) and
# 9.0 (H100/H200) share: 64K 32-bit registers per SM in 4 sub-partitions, allocated per warp in units of 256;
# at most 64 resident warps (2048 threads) and 32 resident blocks per SM; 255 registers per thread. Shared
# memory per SM: 164 KB on 8.0, 228 KB on 9.0, of which 1 KB is reserved per resident block, allocated in
# units of 128 bytes.
SM_LIMITS = {
    (8, 0): {"registers": 65536, "warps": 64, "blocks": 32, "shared": 164 * 1024},
    (9, 0): {"registers": 65536, "warps": 64, "blocks": 32, "shared": 228 * 1024},
}
_SUBPARTITIONS, _REG_UNIT, _SHARED_RESERVED, _SHARED_UNIT = 4, 256, 1024, 128


def find_ptxas():
    """Path of ptxas: the nvidia-cuda-nvcc wheel's (the toolkit of numba-cuda's NVVM) first, then
    $CUDA_HOME/bin, then PATH; None when there is none."""
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for path in sorted(glob.glob(os.path.join(root, "cuda_nvcc", "bin", "ptxas*"))):
            if os.access(path, os.X_OK):
                return path
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")):
        path = home and os.path.join(home, "bin", "ptxas")
        if path and os.access(path, os.X_OK):
            return path
    return shutil.which("ptxas")


def ptxas_version(ptxas):
    out = subprocess.run([ptxas, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"release [\d.]+, V[\d.]+", out)
    return found.group(0) if found else out.strip().splitlines()[-1:]


def float64_instructions(ptx):
    """Opcodes of the PTX instructions that have an .f64 type (cvt.f64.f32, div.rn.f64, ld.param.f64, ...);
    register declarations (.reg .f64) and other directives are not instructions."""
    found = []
    for line in ptx.splitlines():
        text = line.strip()
        if not text or text.startswith(("//", ".", "{", "}", ")")) or text.endswith(":"):
            continue
        if text.startswith("@"):  # predicated: @%p1 bra ...
            text = text.split(None, 1)[1]
        opcode = text.split(None, 1)[0].rstrip(";")
        if "f64" in opcode.split("."):
            found.append(opcode)
    return found


def ptxas_info(ptx, cc, ptxas):
    """ptxas -v's report on the (single) entry point: registers, spill stores/loads, stack, local and
    shared memory in bytes. Raises RuntimeError with ptxas's message when it rejects the PTX."""
    arch = f"sm_{cc[0]}{cc[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "kernel.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        done = subprocess.run([ptxas, f"-arch={arch}", "-v", src, "-o", os.path.join(tmp, "kernel.cubin")],
                              capture_output=True, text=True, check=False)
    report = done.stdout + done.stderr
    if done.returncode != 0:
        raise RuntimeError(f"ptxas -arch={arch} failed: {report.strip()}")

    def number(pattern):
        found = re.search(pattern, report)
        return int(found.group(1)) if found else 0

    return {"registers": number(r"Used (\d+) registers"),
            "spill_stores": number(r"(\d+) bytes spill stores"),
            "spill_loads": number(r"(\d+) bytes spill loads"),
            "stack": number(r"(\d+) bytes stack frame"),
            "local": number(r"(\d+) bytes lmem"),
            "shared": number(r"(\d+) bytes smem")}


def occupancy(cc, registers, shared, threads):
    """(resident blocks per SM, occupancy = resident warps / max warps) for blocks of `threads` threads."""
    limits = SM_LIMITS[cc]
    warps = math.ceil(threads / 32)
    regs_per_warp = math.ceil(max(registers, 1) * 32 / _REG_UNIT) * _REG_UNIT
    warps_by_registers = (limits["registers"] // _SUBPARTITIONS // regs_per_warp) * _SUBPARTITIONS
    shared_per_block = math.ceil((shared + _SHARED_RESERVED) / _SHARED_UNIT) * _SHARED_UNIT
    blocks = min(limits["blocks"], limits["warps"] // warps, warps_by_registers // warps,
                 limits["shared"] // shared_per_block)
    return blocks, blocks * warps / limits["warps"]


def check(py_func, argtypes, cc, threads, dtype, ptxas):
    """Compile py_func for argtypes on compute capability cc and inspect it: a dict with the ptxas figures,
    occupancy at `threads` per block, float64 instruction count, and `problems` (empty when clean):
    not compiling, spills, stack or local memory, float64 instructions in a float32 instantiation."""
    from numba import cuda

    row = {"cc": f"sm_{cc[0]}{cc[1]}", "dtype": dtype, "threads": threads, "problems": []}
    try:
        ptx, _ = cuda.compile_ptx(py_func, argtypes, cc=cc)
        row.update(ptxas_info(ptx, cc, ptxas))
    except Exception as exc:  # noqa: BLE001 (any compiler error is a finding, reported by its first line)
        message = str(exc).strip().splitlines()
        row["problems"].append(f"does not compile: {type(exc).__name__}: {message[0] if message else ''}")
        return row
    f64 = float64_instructions(ptx)
    row["f64"] = len(f64)
    row["blocks_per_sm"], row["occupancy"] = occupancy(cc, row["registers"], row["shared"], threads)
    if row["blocks_per_sm"] == 0:
        row["problems"].append(f"a block of {threads} threads does not fit on an SM")
    if row["spill_stores"] or row["spill_loads"]:
        row["problems"].append(f"spills {row['spill_stores']} B stores / {row['spill_loads']} B loads")
    if row["stack"] or row["local"]:
        row["problems"].append(f"local memory: {row['stack']} B stack frame, {row['local']} B lmem")
    if dtype == "float32" and f64:
        opcodes = ", ".join(sorted(set(f64)))
        row["problems"].append(f"{len(f64)} float64 instructions in a float32 kernel ({opcodes})")
    return row
