"""gpunet standing in for torch: `python -m gpunet.run script.py` and `gpunet.as_torch()`.

The alias rewires `sys.modules`, so each case runs in a fresh interpreter."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

import gpunet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(gpunet.__file__)))


def run_script(tmp_path, source, *args, via_run=True):
    script = tmp_path / "program.py"
    script.write_text(textwrap.dedent(source))
    command = [sys.executable, "-m", "gpunet.run", str(script), *args] if via_run else [sys.executable,
                                                                                         str(script), *args]
    env = {**os.environ, "PYTHONPATH": ROOT}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)


def test_imports_resolve_to_gpunet_modules(tmp_path):
    done = run_script(tmp_path, """
        import sys, json
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        import torch.optim.lr_scheduler
        from torch.utils.data import DataLoader
        from torch import optim
        import gpunet
        print(json.dumps({
            "same": [torch is gpunet, nn is gpunet.nn, F is gpunet.nn.functional,
                     torch.optim.lr_scheduler is gpunet.optim.lr_scheduler, optim is gpunet.optim,
                     DataLoader is gpunet.utils.data.DataLoader],
            "argv": sys.argv, "name": __name__, "path0": sys.path[0],
            "reprs": [repr(torch.float32), repr(torch.zeros(2, 3).shape),
                      repr(torch.zeros(1, dtype=torch.int32))],
        }))
        """, "--epochs", "3")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["same"] == [True] * 6
    assert out["argv"] == [str(tmp_path / "program.py"), "--epochs", "3"]
    assert out["name"] == "__main__" and out["path0"] == str(tmp_path)
    assert out["reprs"] == ["torch.float32", "torch.Size([2, 3])", "tensor([0], dtype=torch.int32)"]


def test_missing_class_imports_and_fails_when_built(tmp_path):
    # A helper file subclassing a class gpunet lacks must import; building one names the PyTorch API.
    (tmp_path / "models.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        class Big(nn.CTCLoss):
            pass
        class Small(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 1)
        """))
    done = run_script(tmp_path, """
        from models import Big, Small
        print(Small().fc.weight.shape)
        Big()
        """)
    assert "torch.Size([1, 2])" in done.stdout
    assert done.returncode == 1
    assert "UnsupportedAPIError: torch.nn.CTCLoss is part of PyTorch's API but not of gpunet's subset" \
        in done.stderr and "(subclassed by Big)" in done.stderr


def test_missing_names_say_what_pytorch_has(tmp_path):
    done = run_script(tmp_path, """
        import torch
        import torch.nn.functional as F
        for get in (lambda: F.grid_sample, lambda: torch.no_such_function):
            try:
                get()
            except AttributeError as e:
                print("AttributeError:", e)
        print(hasattr(torch, "no_such_function"), hasattr(torch, "__wrapped__"))
        for name in ("torch.fx", "torch.no_such_module"):
            try:
                __import__(name)
            except ModuleNotFoundError as e:
                print("ModuleNotFoundError:", e)
        """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("AttributeError: module 'torch.nn.functional' has no attribute "
                        "'grid_sample': torch.nn.functional.grid_sample "
                        "is part of PyTorch's API but not of gpunet's subset; see gpunet's README "
                        "('Supported API') for what is implemented")
    assert lines[1].startswith("AttributeError: module 'torch' has no attribute 'no_such_function', and "
                               "neither has 'torch' in PyTorch 2.")
    assert lines[2] == "False False"
    stands_in = "ModuleNotFoundError: No module named {!r} (gpunet stands in for torch): "
    assert lines[3].startswith(stands_in.format("torch.fx")
                               + "torch.fx is part of PyTorch's API but not of gpunet's subset")
    assert lines[4].startswith(stands_in.format("torch.no_such_module")
                               + "PyTorch 'torch' has no submodule 'no_such_module'")


def test_plain_gpunet_names_its_misses_too():
    # Without the alias, reprs say gpunet and missing classes are errors, not stand-ins.
    assert repr(gpunet.float32) == "gpunet.float32"
    with pytest.raises(AttributeError, match="torch.nn.CTCLoss is part of PyTorch's API"):
        gpunet.nn.CTCLoss
    with pytest.raises(AttributeError, match="module 'gpunet.nn' has no attribute 'Linearr', and neither"):
        gpunet.nn.Linearr


def test_as_torch_in_process_and_undo(tmp_path):
    done = run_script(tmp_path, """
        import sys
        import gpunet
        gpunet.as_torch()
        import torch
        assert torch is gpunet and repr(torch.float64) == "torch.float64"
        from gpunet._torch_alias import undo_as_torch
        undo_as_torch()
        assert "torch" not in sys.modules and repr(gpunet.float64) == "gpunet.float64"
        print("ok")
        """, via_run=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_refuses_after_real_torch(tmp_path):
    pytest.importorskip("torch")
    done = run_script(tmp_path, """
        import torch
        import gpunet
        gpunet.as_torch()
        """, via_run=False)
    assert done.returncode == 1 and "the real torch is already imported" in done.stderr


def test_run_module_mode_and_usage(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "train.py").write_text("import sys, torch\n"
                                               "print(torch.ones(2).sum().item(), sys.argv[1:])\n")
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-m", "gpunet.run", "-m", "pkg.train", "x"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.0 ['x']"
    usage = subprocess.run([sys.executable, "-m", "gpunet.run"], capture_output=True, text=True, env=env)
    assert usage.returncode == 2 and "usage: python -m gpunet.run script.py" in usage.stderr
    missing = subprocess.run([sys.executable, "-m", "gpunet.run", "nope.py"], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
    assert missing.returncode == 2 and "no such file: nope.py" in missing.stderr
