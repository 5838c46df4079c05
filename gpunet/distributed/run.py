"""Start a data-parallel job: `python -m gpunet.distributed.run -n N [--timeout S] train.py [args...]`
(or `... -m module [args...]`, e.g. `-m gpunet.run torch_train.py` for an unmodified PyTorch program).

A thin wrapper over the `mpiexec` installed next to this Python (its bin directory; a launcher from
another MPI would start N unrelated worlds of one). Each rank runs `python -m mpi4py train.py ...`, so an
uncaught exception in any rank aborts the whole job instead of leaving the others waiting forever.
Open MPI gets --oversubscribe (more ranks than cores) and its run-as-root switches; --timeout becomes
MPIEXEC_TIMEOUT (MPICH, Intel MPI) or --timeout (Open MPI). The exit code is the job's.

With more than one rank and none of THREAD_VARIABLES set, each rank gets this machine's cores divided by
the ranks for its BLAS, OpenMP and Numba pools (at least 1), as torchrun sets OMP_NUM_THREADS=1: every
rank otherwise starts a pool as wide as the machine, and the spinning pools of N ranks fight for the
cores. Measured on 2 cores, `-n 2 examples/train_ddp.py`: 24-26 ms per step (6.4-7.1 ms of it in the
all-reduce) with full-width pools, 3.5 ms (0.62-0.66) with one thread per rank. Set any of the
variables to choose yourself (on several hosts, the split counts this host's cores only).
"""
import argparse
import os
import subprocess
import sys

from gpunet.distributed.process_group import INSTALL_HINT

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def threads_per_rank(nprocs):
    """This machine's usable cores divided among nprocs ranks, at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // nprocs)


def find_mpiexec():
    """The mpiexec next to sys.executable; RuntimeError saying what to install when there is none."""
    bindir = os.path.dirname(sys.executable)
    for name in ("mpiexec", "mpirun"):
        path = os.path.join(bindir, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise RuntimeError(f"gpunet.distributed.run: no mpiexec in {bindir} (next to {sys.executable}); "
                       f"install one into this environment: {INSTALL_HINT}")


def is_open_mpi(mpiexec):
    out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    return "Open MPI" in text or "OpenRTE" in text or "Open RTE" in text


def command(nprocs, program, timeout=None, mpiexec=None, env=None):
    """(argv, environment) that start `program` (a script and its arguments) on nprocs ranks."""
    mpiexec = mpiexec or find_mpiexec()
    env = dict(os.environ if env is None else env)
    argv = [mpiexec]
    if is_open_mpi(mpiexec):
        argv.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        if timeout:
            argv += ["--timeout", str(int(timeout))]
    elif timeout:
        env["MPIEXEC_TIMEOUT"] = str(int(timeout))
    if nprocs > 1 and not any(name in env for name in THREAD_VARIABLES):
        env.update(dict.fromkeys(THREAD_VARIABLES, str(threads_per_rank(nprocs))))
    argv += ["-n", str(nprocs), sys.executable, "-m", "mpi4py", *program]
    return argv, env


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m gpunet.distributed.run",
        description="Run a training script on N MPI processes (ranks) of this Python environment.")
    parser.add_argument("-n", "--nproc-per-node", "--nproc_per_node", "-np", dest="nprocs", type=int,
                        default=1, help="number of processes (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="end the whole job after this many seconds (a hung rank cannot block it)")
    parser.add_argument("-m", dest="module", metavar="MODULE",
                        help="run a module as the program (e.g. -m gpunet.run torch_script.py)")
    parser.add_argument("program", nargs=argparse.REMAINDER, help="the script and its arguments")
    args = parser.parse_args(argv)
    if args.module:
        args.program = ["-m", args.module, *args.program]
    if not args.program:
        parser.error("name the script to run")
    if args.nprocs < 1:
        parser.error(f"-n must be at least 1, got {args.nprocs}")
    try:
        cmd, env = command(args.nprocs, args.program, args.timeout)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.nprocs > 1 and not any(name in os.environ for name in THREAD_VARIABLES):
        print(f"gpunet.distributed.run: {env['OMP_NUM_THREADS']} thread(s) per rank for BLAS, OpenMP and "
              f"Numba (this machine's cores / {args.nprocs} ranks); set OMP_NUM_THREADS to choose",
              file=sys.stderr)
    return subprocess.run(cmd, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
