"""gpunet.utils: data loading (gpunet.utils.data), hooks handles, named return types."""
