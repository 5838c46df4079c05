"""gpunet.nn.utils: gradient clipping, parameter/vector conversion."""
__all__ = []
