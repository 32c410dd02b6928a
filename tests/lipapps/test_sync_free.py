"""The training constraint reads no value on the host during a step (:mod:`lipapps.spectral.sync`).

A read (``.item()``, ``float(t)``, ``bool(t)``, ``.tolist()``, ``nonzero``, the error check of an
eigen- or singular value solver) waits for the accelerator to finish every queued kernel. The
sync-free per-step bounds must do none: these tests run training steps of every constrained layer
type on the CPU inside :func:`lipapps.spectral.sync_free`, with every such read made to raise
(a dispatch mode over the aten operators that read values, and ``Tensor.tolist``), and check that
the bounds still hold. On a CUDA machine the same steps run under torch's own sync detector.
"""

import contextlib

import pytest
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from torch.utils._python_dispatch import TorchDispatchMode

import lipapps
from lipapps import spectral
from lipapps.constraints import prepare_parametrizations_, project_

aten = torch.ops.aten
#: aten operators that read a tensor's values on the host (a device synchronisation on CUDA).
HOST_READS = {
    aten._local_scalar_dense,  # item(), float(t), int(t), bool(t)
    aten.nonzero,  # its output shape depends on the values
    aten._linalg_check_errors,
    aten._linalg_eigh,  # eigh / eigvalsh check their solver's errors on the host
    aten._linalg_svd,
    aten.linalg_eig,
    aten.masked_select,  # output shape depends on the values
}
#: Indexing operators that read a boolean mask's values on the host (``t[mask]``, ``t[mask] = x``).
MASK_INDEXING = {aten.index, aten.index_put, aten.index_put_, aten._index_put_impl_}


class HostReadError(AssertionError):
    pass


class _FailOnHostReads(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        masked = func.overloadpacket in MASK_INDEXING and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1]
        )
        if func.overloadpacket in HOST_READS or masked:
            raise HostReadError(f"host synchronisation inside the step: {func}")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def no_host_reads(monkeypatch):
    def tolist(self):
        raise HostReadError("host synchronisation inside the step: Tensor.tolist")

    with monkeypatch.context() as patch, _FailOnHostReads():
        patch.setattr(torch.Tensor, "tolist", tolist)
        yield


def dense(c):
    return lipapps.LipschitzResNet(5, 3, width=12, depth=2, constraint=c), (5,)


def wide(c):
    """Maps above DIRECT_EIGENVALUE_SIZE, where the adaptive path has its fast check."""
    return lipapps.LipschitzResNet(7, 2, width=spectral.DIRECT_EIGENVALUE_SIZE + 9, depth=2, constraint=c), (7,)


def fixed_width(c):
    return lipapps.LipschitzResNet(4, 2, width=9, depth=2, fixed_width=True, constraint=c), (4,)


def conv(c):
    return nn.Sequential(
        lipapps.LipschitzConv2d(2, 6, kernel_size=3, constraint=c),
        lipapps.ConvGradientFlowBlock(6, 9, kernel_size=3, constraint=c),
        lipapps.ConvGradientFlowBlock(6, 4, kernel_size=5, step_size=1.0, activation="spline", constraint=c),
        lipapps.LipschitzConv2d(6, 2, kernel_size=1, constraint=c),
    ), (2, 7, 7)


def multiscale(c):
    return nn.Sequential(
        lipapps.LipschitzConv2d(1, 2, constraint=c),
        lipapps.MultiScaleGradientFlowBlock(2, 3, dilations=((1,), (1, 2)), constraint=c),
        lipapps.LipschitzConv2d(2, 1, constraint=c),
    ), (1, 8, 8)


MODELS = {"dense": dense, "wide": wide, "fixed_width": fixed_width, "conv": conv, "multiscale": multiscale}


def constrained_steps(model, shape, steps, guard, device="cpu", lr=0.05):
    """The trainer's step (:func:`lipapps.train`): materialise the parametrized weights, forward,
    backward, Adam, project. Everything but Adam's own update runs inside ``guard()``."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        x = torch.randn((16, *shape), generator=gen).to(device)
        with guard(), parametrize.cached():
            prepare_parametrizations_(model)
            out = model(x)
            loss = -(out - out.roll(1, 0)).pow(2).sum()
            opt.zero_grad()
            loss.backward()
        opt.step()
        with guard():
            project_(model)
    return model.eval()


@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("constraint", ["parametrization", "projection"])
def test_a_constrained_step_reads_nothing_on_the_host(kind, constraint, monkeypatch):
    torch.manual_seed(0)
    model, shape = MODELS[kind](constraint)
    with spectral.sync_free():
        constrained_steps(model, shape, steps=4, guard=lambda: no_host_reads(monkeypatch))
    assert lipapps.certify(model.cpu(), input_shape=shape if len(shape) == 3 else None).upper_bound <= 1.0


def test_the_detector_sees_the_adaptive_path_read_values(monkeypatch):
    """The CPU's adaptive bounds branch on values: the guard must catch that (it can fail)."""
    torch.manual_seed(0)
    model, shape = wide("projection")
    with pytest.raises(HostReadError):
        constrained_steps(model, shape, steps=2, guard=lambda: no_host_reads(monkeypatch))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("constraint", ["parametrization", "projection"])
def test_a_constrained_step_on_cuda_never_synchronises(kind, constraint):
    """torch's own detector: any synchronising CUDA call inside the step raises."""

    @contextlib.contextmanager
    def cuda_sync_errors():
        torch.cuda.set_sync_debug_mode("error")
        try:
            yield
        finally:
            torch.cuda.set_sync_debug_mode("default")

    torch.manual_seed(0)
    model, shape = MODELS[kind](constraint)
    constrained_steps(model.cuda(), shape, steps=4, guard=cuda_sync_errors, device="cuda")
    assert lipapps.certify(model.cpu(), input_shape=shape if len(shape) == 3 else None).upper_bound <= 1.0
