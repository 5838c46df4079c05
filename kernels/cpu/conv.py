"""conv kernels (cpu). See kernels/__init__.py."""
__all__ = []
