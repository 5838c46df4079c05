"""The main-process side of multi-process loading (DataLoader(num_workers > 0)).

Indices are sent round-robin to the workers' index queues, keeping at most prefetch_factor * num_workers
tasks in flight; batches come back on one result queue tagged (epoch, task) and are yielded in task
order (or as they arrive with in_order=False). Results of an earlier epoch (persistent workers after a
`break`) are dropped by their epoch tag.
"""
import multiprocessing
import os
import queue

from gpunet.utils.data.worker import ExceptionWrapper, Exhausted, worker_loop

_POLL_INTERVAL = 5.0  # seconds between liveness checks of the workers while waiting for a batch
_PENDING = object()


def _context(multiprocessing_context):
    if multiprocessing_context is None:
        return multiprocessing.get_context()
    if isinstance(multiprocessing_context, str):
        return multiprocessing.get_context(multiprocessing_context)
    return multiprocessing_context


class MultiProcessingIter:
    """Iterator over a DataLoader's batches, produced by num_workers worker processes."""

    def __init__(self, loader, base_seed):
        self._loader = loader
        self._num_workers = loader.num_workers
        self._prefetch = max(1, loader.prefetch_factor * loader.num_workers)
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._epoch = 0
        self._closed = False
        self._owner = os.getpid()  # a forked child holds a copy of this object, not these workers
        ctx = _context(loader.multiprocessing_context)
        self._result_queue = ctx.Queue()
        self._index_queues, self._workers = [], []
        for worker_id in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()  # never block interpreter exit on undelivered indices
            w = ctx.Process(target=worker_loop, daemon=True,
                            args=(loader._dataset_kind, loader.dataset, index_queue, self._result_queue,
                                  loader._auto_collation, loader.collate_fn, loader.drop_last, base_seed,
                                  loader.worker_init_fn, worker_id, self._num_workers, os.getpid()))
            w.start()
            self._index_queues.append(index_queue)
            self._workers.append(w)
        self._start_epoch(resume=False)

    # ---- epochs ------------------------------------------------------------------------------------
    def _start_epoch(self, resume):
        if resume:
            self._epoch += 1
            if self._loader._dataset_kind == "iterable":
                for index_queue in self._index_queues:
                    index_queue.put(("resume",))
        self._sampler_iter = iter(self._loader._index_sampler)
        self._sampler_done = False
        self._active = [True] * self._num_workers
        self._next_worker = 0
        self._send_idx = 0  # next task number to send
        self._rcvd_idx = 0  # next task number to yield (in order)
        self._tasks = {}  # task -> [worker_id, data or _PENDING]
        for _ in range(self._prefetch):
            self._try_put_index()

    def reset(self):
        """Start a new epoch on the same (persistent) workers."""
        self._start_epoch(resume=True)
        return self

    def _try_put_index(self):
        if self._sampler_done or len(self._tasks) >= self._prefetch or not any(self._active):
            return
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            self._sampler_done = True
            return
        while not self._active[self._next_worker]:
            self._next_worker = (self._next_worker + 1) % self._num_workers
        worker_id = self._next_worker
        self._next_worker = (self._next_worker + 1) % self._num_workers
        self._index_queues[worker_id].put((self._epoch, self._send_idx, index))
        self._tasks[self._send_idx] = [worker_id, _PENDING]
        self._send_idx += 1

    # ---- results -----------------------------------------------------------------------------------
    def __iter__(self):
        return self

    def __next__(self):
        if self._closed:
            raise StopIteration
        while True:
            ready = self._pop_ready()
            if ready is not None:
                return self._deliver(ready)
            if not self._tasks:
                if not self._persistent:
                    self.shutdown()
                raise StopIteration
            epoch, task, data = self._get_result()
            if epoch != self._epoch or task not in self._tasks:
                continue  # a batch of an abandoned epoch
            if isinstance(data, Exhausted):
                self._active[data.worker_id] = False
            self._tasks[task][1] = data

    def _pop_ready(self):
        """The next batch that may be yielded, or None; skips tasks answered by an exhausted worker."""
        while True:
            if self._in_order:
                entry = self._tasks.get(self._rcvd_idx)
                if entry is None or entry[1] is _PENDING:
                    return None
                task = self._rcvd_idx
                self._rcvd_idx += 1
            else:
                task = next((t for t, e in self._tasks.items() if e[1] is not _PENDING), None)
                if task is None:
                    return None
            data = self._tasks.pop(task)[1]
            self._try_put_index()
            if not isinstance(data, Exhausted):
                return (data,)

    def _deliver(self, ready):
        data = ready[0]
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _get_result(self):
        waited = 0.0
        while True:
            wait = _POLL_INTERVAL if self._timeout <= 0 else min(_POLL_INTERVAL, self._timeout - waited)
            try:
                return self._result_queue.get(timeout=wait)
            except queue.Empty:
                waited += wait
            dead = [w.pid for w in self._workers if not w.is_alive()]
            if dead:
                self.shutdown()
                raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(map(str, dead))}) exited "
                                   "unexpectedly")
            if 0 < self._timeout <= waited:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    # ---- shutdown ----------------------------------------------------------------------------------
    def shutdown(self):
        """Stop the workers (idempotent). In another process (a fork whose garbage collector met a copy of
        this iterator, e.g. in a worker of another DataLoader) nothing: the workers are the owner's, and
        stopping them there would send them its stop signals."""
        if self._closed or os.getpid() != self._owner:
            return
        self._closed = True
        for index_queue in self._index_queues:
            try:
                index_queue.put(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.join(timeout=_POLL_INTERVAL)
            if w.is_alive():
                w.terminate()
                w.join()
        for q in (*self._index_queues, self._result_queue):
            q.cancel_join_thread()
            q.close()

    def __del__(self):
        try:
            self.shutdown()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass
