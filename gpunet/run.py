"""Run an unmodified PyTorch program on gpunet:

    python -m gpunet.run script.py [args ...]
    python -m gpunet.run -m package.module [args ...]

`import torch` (and torch.nn, torch.optim, torch.utils.data, ...) inside the program gives gpunet's
modules (gpunet.as_torch()); the program sees the arguments after the script as sys.argv[1:], and runs as
`__main__`, as `python script.py` would run it.
"""
import os
import runpy
import sys

from gpunet._torch_alias import as_torch

USAGE = "usage: python -m gpunet.run script.py [args ...]  |  python -m gpunet.run -m module [args ...]"


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 2 if not argv else 0
    as_torch()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = argv[1:]
        sys.path[0] = os.getcwd()
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"gpunet.run: no such file: {script}", file=sys.stderr)
        return 2
    sys.argv = argv
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python script.py` sets it
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
