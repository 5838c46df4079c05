"""Fetchers: turn one entry of the index sampler into one batch (shared by in-process and worker loading)."""


class _MapFetcher:
    """Map-style dataset: index is a list of keys (auto-collation) or one key."""

    def __init__(self, dataset, auto_collation, collate_fn):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        fetch_many = getattr(self.dataset, "__getitems__", None)
        if callable(fetch_many):
            return self.collate_fn(fetch_many(index))
        return self.collate_fn([self.dataset[i] for i in index])


class _IterableFetcher:
    """IterableDataset: index is a list of batch_size placeholders (auto-collation) or one placeholder.

    Raises StopIteration once the dataset is exhausted (or when only a short final batch is left and
    drop_last is set)."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            try:
                return self.collate_fn(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                raise
        batch = []
        for _ in index:
            try:
                batch.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not batch or (self.drop_last and len(batch) < len(index)):
            raise StopIteration
        return self.collate_fn(batch)


def make_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last):
    if dataset_kind == "iterable":
        return _IterableFetcher(dataset, auto_collation, collate_fn, drop_last)
    return _MapFetcher(dataset, auto_collation, collate_fn)
