"""Where an array's bytes live, and writing a file atomically: what gpunet.save (serialization) and
nn.utils.safetensors_io share. serialization sits above nn (it restores nn.Parameter), so the
helpers live below both.
"""
import os
import tempfile


def address(a):
    """The device or host address of an array's first byte."""
    return a.__array_interface__["data"][0] if hasattr(a, "__array_interface__") else a.data.ptr


def root_array(a):
    """The C-contiguous array owning a's memory (following views), or None when there is none."""
    root = a
    base = a.base
    while base is not None and hasattr(base, "dtype") and hasattr(base, "strides"):
        root, base = base, base.base
    return root if root.flags.c_contiguous else None


def atomic_write(path, write_fn):
    """Call write_fn(file) on a temp file beside path, fsync it and rename it over path (os.replace),
    so a failure never leaves a partial file; the temp file is removed on any error."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write_fn(fh)
            fh.flush()
            os.fsync(fh.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
