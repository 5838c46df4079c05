"""Device asserts: a check of device values raises at once on the CPU, and at the next synchronisation on
cuda (as PyTorch's device-side asserts do), naming the op and the first bad value, without a sync of its own.
"""
import pytest

import gpunet
import gpunet.nn.functional as F

needs_cuda = pytest.mark.skipif(not gpunet.cuda.is_available(),
                                reason="no cuda device (GPU or GPUNET_CUDA_SIM=1)")

BAD_CALLS = {
    "gather": (lambda d: gpunet.zeros(3, device=d).gather(0, gpunet.tensor([0, 5], device=d)),
               RuntimeError, r"gather\(\): index out of bounds for dimension 0 with size 3 \(index 5\)"),
    "index_select": (lambda d: gpunet.zeros(3, device=d).index_select(0, gpunet.tensor([-4], device=d)),
                     IndexError, r"index -4 out of range"),
    "cross_entropy": (lambda d: F.cross_entropy(gpunet.zeros(2, 4, device=d),
                                                gpunet.tensor([1, 7], device=d)),
                      IndexError, "Target 7 is out of bounds"),
    "embedding": (lambda d: F.embedding(gpunet.tensor([3, -1], device=d), gpunet.zeros(3, 2, device=d)),
                  IndexError, "embedding index 3 is outside"),
    "one_hot": (lambda d: F.one_hot(gpunet.tensor([0, 4], device=d), 3), RuntimeError, "got class 4"),
    "binary_cross_entropy": (lambda d: F.binary_cross_entropy(gpunet.tensor([0.5, 1.5], device=d),
                                                              gpunet.zeros(2, device=d)),
                             RuntimeError, r"between 0 and 1 \(found 1.5"),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_cpu_raises_at_the_call(name):
    call, error, message = BAD_CALLS[name]
    with pytest.raises(error, match=message):
        call("cpu")


@needs_cuda
@pytest.mark.parametrize("name", sorted(BAD_CALLS))
@pytest.mark.parametrize("sync", ["item", "cpu", "synchronize", "print"])
def test_cuda_raises_at_the_next_synchronisation(name, sync):
    call, error, message = BAD_CALLS[name]
    out = call("cuda")  # the GPU would still be running: no error yet
    ok = gpunet.ones(1, device="cuda")
    with pytest.raises(error, match=message):
        {"item": ok.item, "cpu": ok.cpu, "synchronize": gpunet.cuda.synchronize,
         "print": lambda: repr(ok)}[sync]()
    assert out is not None
    ok.item()  # reported once: the next sync is clean


@needs_cuda
def test_checks_under_one_key_report_the_first_bad_value():
    x = gpunet.zeros(3, device="cuda")
    for bad in (5, 4, 0, 9):  # 0 is in range; 5 is the first bad index
        x.gather(0, gpunet.tensor([bad], device="cuda"))
    with pytest.raises(RuntimeError, match=r"\(index 5\)"):
        gpunet.cuda.synchronize()


@needs_cuda
def test_a_check_costs_no_synchronisation():
    from kernels.cuda import strict_sim
    x = gpunet.zeros(2, 4, device="cuda")
    target = gpunet.tensor([1, 3], device="cuda")
    strict_sim.syncs.clear()
    for _ in range(3):
        F.cross_entropy(x, target)
    assert not strict_sim.syncs
    gpunet.cuda.synchronize()  # one transfer of the pending flags, no error
    assert strict_sim.syncs == {"asnumpy": 1}
