"""A small trainer shared by every application: seeded, resumable, data-parallel.

* Seeded: the batch order of epoch ``e`` is a permutation drawn from ``seed`` and ``e`` alone,
  so a run resumed from a checkpoint sees the same batches as an uninterrupted one. The data
  may be drawn afresh for every epoch (``tensors`` a function of the epoch, e.g. new random
  crops), as long as the draw depends on the epoch alone.
* Learned activations (:class:`lipapps.MonotoneSpline` and its conditioned form) can train at ``activation_lr_factor``
  times the learning rate (:func:`parameter_groups`); the convex-ridge denoisers train their
  splines at 10x (docs/denoisers.md).
* Constraint kept after every step: :func:`lipapps.project_` runs after each optimiser step
  (a no-op for parametrized maps); its time, and the time to materialise parametrized weights,
  are reported separately as the constraint's cost.
* Checkpoints are written atomically every ``checkpoint_every`` epochs; ``resume=True``
  continues from the file and reads it with ``weights_only=True``.
* Data-parallel: under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in
  ``DistributedDataParallel`` (gloo on the CPU, nccl on CUDA). Each global batch is split
  across ranks and the loss is scaled so that the averaged gradient equals the single-process
  gradient of the same global batch: both runs give the same weights up to float rounding.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize
from tqdm.auto import tqdm

from lipapps.activations import LEARNED_ACTIVATIONS
from lipapps.atomic import atomic_write
from lipapps.checkpoint import read_payload
from lipapps.constraints import prepare_parametrizations_, project_, projected_weight_norms
from lipapps.errors import CheckpointError

LossFn = Callable[..., torch.Tensor]
Tensors = tuple[torch.Tensor, ...]
STATE_FORMAT = "lipapps-train-state"


@dataclass
class TrainResult:
    """What :func:`train` returns: per-epoch history and the timing split."""

    history: list[dict[str, Any]] = field(default_factory=list)
    seconds_per_epoch: float = 0.0
    constraint_seconds_per_epoch: float = 0.0


def distributed_context() -> tuple[int, int]:
    """``(rank, world_size)``; starts the process group under ``torchrun`` if needed."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _materialise_parametrizations(model: nn.Module) -> None:
    """Compute every parametrized weight once (inside ``parametrize.cached()``, reused after)."""
    prepare_parametrizations_(model)
    for module in model.modules():
        if parametrize.is_parametrized(module):
            for name in module.parametrizations:
                getattr(module, name)


def _make_scheduler(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int):
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=[g["lr"] for g in optimizer.param_groups], total_steps=max(total_steps, 1))
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    raise ValueError(f"schedule must be 'cosine', 'onecycle' or 'constant', got {schedule!r}")


def parameter_groups(model: nn.Module, lr: float, activation_lr_factor: float = 1.0) -> list[dict[str, Any]]:
    """Adam parameter groups: the parameters of every learned activation (:data:`lipapps.activations.LEARNED_ACTIVATIONS`) at ``lr * factor``, the rest at ``lr``.

    Empty groups are left out, so a model without learned activations gets one group.
    """
    if not activation_lr_factor > 0:
        raise ValueError(f"activation_lr_factor must be positive, got {activation_lr_factor}")
    spline = {id(p) for m in model.modules() if isinstance(m, LEARNED_ACTIVATIONS) for p in m.parameters()}
    rest = [p for p in model.parameters() if id(p) not in spline]
    activations = [p for p in model.parameters() if id(p) in spline]
    groups = [{"params": rest, "lr": lr}, {"params": activations, "lr": lr * activation_lr_factor}]
    return [g for g in groups if g["params"]]


def _check_tensors(tensors: Tensors) -> int:
    if not tensors or any(t.shape[0] != tensors[0].shape[0] for t in tensors):
        raise ValueError("tensors must be a non-empty tuple with equal first dimensions")
    if tensors[0].shape[0] == 0:
        raise ValueError("cannot train on an empty data set")
    return tensors[0].shape[0]


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` of a run seeded with ``seed``: batch order, and data drawn per epoch."""
    return seed * 1_000_003 + epoch


def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, epoch)))


def train(
    model: nn.Module,
    loss_fn: LossFn,
    tensors: Tensors | Callable[[int], Tensors],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    activation_lr_factor: float = 1.0,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 1,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[int, nn.Module], dict[str, Any]] | None = None,
) -> TrainResult:
    """Train ``model`` with Adam on in-memory ``tensors`` (first dimension = samples).

    ``tensors`` is a tuple, or a function ``epoch -> tuple`` (epochs count from 0) that draws
    each epoch's data; it must return the same number of samples every time and depend on the
    epoch alone, so that resuming sees the same data. ``loss_fn(model, *batch)`` returns
    per-sample losses (shape ``(b,)``); the trainer averages them over the global batch.
    ``activation_lr_factor`` scales the learning rate of learned activations
    (:func:`parameter_groups`). ``callback(epoch, model)`` may return extra numbers for the
    history (e.g. a validation accuracy); it runs on every rank, and a true ``"stop"`` entry in
    what it returns ends training after that epoch (early stopping; the schedule is not
    shortened). The model is trained in place.
    """
    draw = tensors if callable(tensors) else (lambda _epoch: tensors)
    first = draw(0)
    n = _check_tensors(first)
    rank, world = distributed_context()
    if batch_size < world:
        raise ValueError(f"batch_size {batch_size} is smaller than the number of processes {world}")
    net = _wrap(model, world)
    steps_per_epoch = sum(1 for s in range(0, n, batch_size) if n - s >= world)
    optimizer = torch.optim.Adam(parameter_groups(model, lr, activation_lr_factor), lr=lr, weight_decay=weight_decay)
    scheduler = _make_scheduler(optimizer, schedule, epochs * steps_per_epoch)
    result = TrainResult()
    start_epoch = 0
    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    if resume and ckpt_path is not None and ckpt_path.exists():
        start_epoch = _load_state(ckpt_path, model, optimizer, scheduler, result)

    bar = tqdm(range(start_epoch, epochs), desc="train", disable=not progress or rank != 0, initial=start_epoch, total=epochs)
    for epoch in bar:
        net.train()
        data = first if epoch == 0 else draw(epoch)
        if _check_tensors(data) != n:
            raise ValueError(f"epoch {epoch} drew {data[0].shape[0]} samples, epoch 0 drew {n}")
        order = _epoch_order(n, seed, epoch)
        record = {"epoch": epoch + 1, **_run_epoch(model, net, loss_fn, data, order, batch_size, optimizer, scheduler, rank, world)}
        if callback is not None:
            net.eval()
            record.update(callback(epoch + 1, model))
        result.history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.4g}")
        last = epoch + 1 == epochs or bool(record.get("stop"))
        if ckpt_path is not None and rank == 0 and ((epoch + 1) % checkpoint_every == 0 or last):
            _save_state(ckpt_path, model, optimizer, scheduler, result, epoch + 1)
        if record.get("stop"):
            break
    if world > 1:
        dist.barrier()
    model.eval()
    _average_timings(result)
    return result


def _wrap(model: nn.Module, world: int) -> nn.Module:
    """``model`` itself, or wrapped in ``DistributedDataParallel`` when several processes train."""
    if world == 1:
        return model
    device = next(model.parameters()).device
    return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def _run_epoch(
    model: nn.Module,
    net: nn.Module,
    loss_fn: LossFn,
    data: Tensors,
    order: torch.Tensor,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    rank: int,
    world: int,
) -> dict[str, Any]:
    """One pass over ``data`` in ``order`` (``net`` in training mode): a constrained optimiser
    step per global batch. Returns the epoch's mean loss, its seconds and the constraint's share.
    """
    device = next(model.parameters()).device
    total_loss, seen, constraint_time = 0.0, 0, 0.0
    t_epoch = time.perf_counter()
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        if len(idx) < world:
            continue
        local = idx[rank::world]
        batch = [t[local].to(device) for t in data]
        losses, seconds = _step(model, net, loss_fn, batch, world / len(idx), optimizer, scheduler)
        constraint_time += seconds
        total_loss += float(losses.detach().sum())
        seen += len(local)
    return {
        "loss": total_loss / max(seen, 1),
        "seconds": time.perf_counter() - t_epoch,
        "constraint_seconds": constraint_time,
    }


def _step(
    model: nn.Module,
    net: nn.Module,
    loss_fn: LossFn,
    batch: list[torch.Tensor],
    scale: float,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> tuple[torch.Tensor, float]:
    """One optimiser step on this rank's part of a global batch, then the projection.

    The summed per-sample losses are multiplied by ``scale`` (processes / global batch size), so
    the gradient averaged over ranks is that of the mean loss of the global batch. Returns the
    per-sample losses and the seconds spent keeping the constraint.
    """
    with parametrize.cached():
        t0 = time.perf_counter()
        _materialise_parametrizations(model)
        constraint_time = time.perf_counter() - t0
        losses = loss_fn(net, *batch)
        loss = losses.sum() * scale
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    optimizer.step()
    scheduler.step()
    t0 = time.perf_counter()
    project_(model)
    return losses, constraint_time + time.perf_counter() - t0


def _average_timings(result: TrainResult) -> None:
    """Fill ``seconds_per_epoch`` and its constraint share from the timed epochs of the history."""
    timed = [h for h in result.history if "seconds" in h]
    if timed:
        result.seconds_per_epoch = sum(h["seconds"] for h in timed) / len(timed)
        result.constraint_seconds_per_epoch = sum(h["constraint_seconds"] for h in timed) / len(timed)


def _save_state(path: Path, model: nn.Module, optimizer, scheduler, result: TrainResult, epoch: int) -> None:
    state = {
        "format": STATE_FORMAT,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "history": result.history,
    }
    with atomic_write(path) as tmp:
        torch.save(state, tmp)


def _load_state(path: Path, model: nn.Module, optimizer, scheduler, result: TrainResult) -> int:
    state = read_payload(path)
    if state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a lipapps training checkpoint")
    model.load_state_dict(state["model"])
    try:
        optimizer.load_state_dict(state["optimizer"])
    except ValueError as err:  # torch names the mismatch: groups or their sizes
        raise CheckpointError(f"{path}: its optimiser state does not fit this model's parameter groups ({err})") from None
    scheduler.load_state_dict(state["scheduler"])
    result.history = list(state["history"])
    broken = {k: v for k, v in projected_weight_norms(model).items() if not v <= 1.0}
    if broken:
        raise CheckpointError(f"{path}: weights outside the unit ball (norms {broken}): not a state this trainer wrote")
    return int(state["epoch"])
