"""pool kernels (cuda). See kernels/__init__.py."""
__all__ = []
