"""gpunet.utils.data: Dataset, DataLoader, samplers, random_split (torch.utils.data)."""
