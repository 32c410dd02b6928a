"""WGAN training with a certified 1-Lipschitz critic (no gradient penalty, no weight clipping).

The generator ``G`` minimises the critic's Kantorovich-Rubinstein estimate
``sup over 1-Lipschitz f of E_real f - E_{z} f(G(z))`` (Arjovsky, Chintala, Bottou 2017). With a
``lipapps`` critic the constraint holds exactly after every step, so the critic's gap divided by
its certificate is a true lower bound on the W1 between the two batches; every ``log_every``
steps we log it next to the exact W1 (POT) between fresh generated and real batches.
A WGAN-GP baseline (Gulrajani et al. 2017) runs through the same loop with an unconstrained
critic and ``gp_weight > 0``; its gap is then not a bound.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torch.nn.utils import parametrize
from tqdm.auto import tqdm

import lipapps
from critics.baselines import gradient_penalty
from critics.critic import W1Critic, kantorovich_gap
from critics.exact import exact_w1
from critics.toy import sample_toy
from lipapps.checkpoint import read_payload
from lipapps.errors import CheckpointError, InputError

STATE_FORMAT = "critics-wgan-state"
EVAL_SAMPLES = 5000
"""Generated and real samples for the final exact W1 (``ot.emd2`` on 5000 x 5000)."""


@dataclass
class WGANResult:
    """A trained generator and critic, the training log, and the final exact W1.

    ``history``: one dict per log point, the first before training (``step``, ``critic_estimate``,
    ``exact_w1``, ``seconds``).
    ``final_w1``: exact W1 (``ot.emd2``, Euclidean) between ``eval_samples`` generated and real
    samples. ``seconds``: training wall time (without the final evaluation), summed over resumed
    calls. ``steps``: generator steps made, also those of the calls resumed from.
    ``averaged_generator``: the running average of the generator's weights (``generator_ema``
    of :func:`train_wgan`), or ``None`` for a run that kept none.
    """

    generator: nn.Module
    critic: nn.Module
    history: list[dict] = field(default_factory=list)
    final_w1: float = float("nan")
    eval_samples: int = 0
    seconds: float = 0.0
    steps: int = 0
    averaged_generator: nn.Module | None = None

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator to sample from (:func:`generator_to_sample`)."""
        return generator_to_sample(self.generator, self.averaged_generator)


def generator_to_sample(generator: nn.Module, averaged: nn.Module | None) -> nn.Module:
    """The generator a run samples from (grids, final W1, metrics): the running average of its
    weights where the run kept one, else the trained generator."""
    return generator if averaged is None else averaged


#: Clocks a training budget can run on: this process's CPU seconds, or wall seconds.
CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def make_generator(latent_dim: int = 8, out_features: int = 2, width: int = 256) -> nn.Sequential:
    """The toy generator of the WGAN-GP experiments: an MLP with three hidden ReLU layers."""
    return nn.Sequential(
        nn.Linear(latent_dim, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, out_features),
    )


def make_critic(dim: int = 2, width: int = 64, depth: int = 4) -> W1Critic:
    """A certified critic for toy data (inputs of scale about 2, so no standardisation)."""
    return W1Critic(dim, width=width, depth=depth)


def _device(module: nn.Module) -> torch.device:
    """The device of ``module``'s first parameter (CPU for a module without parameters)."""
    return next(module.parameters(), torch.empty(0)).device


@torch.no_grad()
def sample_generator(generator: nn.Module, n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """``n`` generated samples (on the CPU) from seeded Gaussian noise drawn on the CPU, so the
    same seed gives the same samples on every device."""
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    return generator(z.to(_device(generator))).cpu()


@dataclass
class WGANState:
    """What a WGAN run updates: both networks, their optimisers, the generator of the noise
    (latent codes, and the gradient penalty's interpolation weights) and, where the run keeps one,
    the running average of the generator's weights (:func:`average_weights_`)."""

    generator: nn.Module
    critic: nn.Module
    opt_g: torch.optim.Optimizer
    opt_c: torch.optim.Optimizer
    noise: torch.Generator
    averaged: nn.Module | None = None

    def save(self, path: Path, step: int, history: list[dict], seconds: float) -> None:
        """Write the state after ``step`` and ``seconds`` of training atomically, with every buffer
        of both networks: also those a ``state_dict`` leaves out (the warm starts of the convolution
        bounds, which decide the next bound to the last bit), so that a resumed run is the
        uninterrupted one."""
        state = {
            "format": STATE_FORMAT, "step": step, "seconds": float(seconds), "generator": self.generator.state_dict(),
            "critic": self.critic.state_dict(), "opt_g": self.opt_g.state_dict(), "opt_c": self.opt_c.state_dict(),
            "noise": self.noise.get_state(), "history": history,
            "buffers": {name: b for net in ("generator", "critic") for name, b in _buffers(getattr(self, net), net)},
        }
        if self.averaged is not None:
            state["averaged"] = self.averaged.state_dict()
        with lipapps.atomic_write(path) as tmp:
            torch.save(state, tmp)

    def load(self, path: Path) -> tuple[int, list[dict], float]:
        """Restore a state written by :meth:`save` (and project the critic); its step, history and
        training seconds (those of the last history point for a checkpoint that does not store them)."""
        state = read_payload(path)
        if state.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{path}: not a critics WGAN checkpoint")
        keeps_average = self.averaged is not None
        if keeps_average != ("averaged" in state):
            mismatch = ("it has no running average of the generator's weights, this run keeps one" if keeps_average
                        else "it has a running average of the generator's weights, this run keeps none")
            raise CheckpointError(f"{path}: the WGAN checkpoint does not fit this run: {mismatch} (generator_ema)")
        try:
            self.generator.load_state_dict(state["generator"])
            self.critic.load_state_dict(state["critic"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_c.load_state_dict(state["opt_c"])
            self.noise.set_state(state["noise"])
            if self.averaged is not None:
                self.averaged.load_state_dict(state["averaged"])
            for net in ("generator", "critic"):
                for name, buffer in _buffers(getattr(self, net), net):
                    if name in state.get("buffers", {}):
                        buffer.copy_(state["buffers"][name])
            history = list(state["history"])
            step = int(state["step"])
            seconds = float(state.get("seconds", history[-1]["seconds"] if history else 0.0))
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as err:
            raise CheckpointError(f"{path}: the WGAN checkpoint does not fit these networks ({err.__class__.__name__})") from err
        lipapps.project_(self.critic)
        return step, history, seconds


def _buffers(module: nn.Module, prefix: str):
    """``(name, buffer)`` of every buffer of ``module``, persistent or not, names under ``prefix``."""
    return ((f"{prefix}.{name}", b) for name, b in module.named_buffers())


def _sampler(data: str | Callable[[int, int], torch.Tensor]) -> Callable[[int, int], torch.Tensor]:
    """``(n, seed) -> samples`` of ``data``: a toy name (checked now) or such a function."""
    if not isinstance(data, str):
        return data
    sample_toy(data, 1)  # reject an unknown name before any work
    return lambda n, s: sample_toy(data, n, seed=s)


def critic_step(run: WGANState, real: torch.Tensor, batch_size: int, latent_dim: int, gp_weight: float) -> None:
    """One Adam step of the critic on ``E_fake f - E_real f`` (+ ``gp_weight`` times the gradient
    penalty) against a fresh generated batch, then :func:`lipapps.project_`. The noise is drawn
    on the CPU from ``run.noise`` and moved to the networks' device, like ``real``."""
    device = _device(run.critic)
    real = real.to(device)
    with torch.no_grad():
        fake = run.generator(torch.randn(batch_size, latent_dim, generator=run.noise).to(device))
    with parametrize.cached():  # one constrained weight per step, shared by all forwards
        loss = kantorovich_gap(run.critic, fake, real)
        if gp_weight > 0:
            loss = loss + gp_weight * gradient_penalty(run.critic, real, fake, run.noise)
        run.opt_c.zero_grad(set_to_none=True)
        loss.backward()
    run.opt_c.step()
    lipapps.project_(run.critic)


def generator_step(run: WGANState, batch_size: int, latent_dim: int) -> None:
    """One Adam step of the generator on ``-E f(G(z))`` (``E_real f`` does not depend on ``G``)."""
    with parametrize.cached():
        z = torch.randn(batch_size, latent_dim, generator=run.noise).to(_device(run.generator))
        g_loss = -run.critic(run.generator(z)).mean()
        run.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
    run.opt_g.step()


def ema_decay(decay: float, step: int) -> float:
    """The decay of the weight average at generator step ``step`` (from 1): ``min(decay, (1 + step) /
    (10 + step))``, so that the first steps, far from the later weights, are forgotten quickly (the
    warm-up of TensorFlow's ``ExponentialMovingAverage``)."""
    return min(decay, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def average_weights_(averaged: nn.Module, model: nn.Module, decay: float) -> None:
    """``a <- decay a + (1 - decay) w`` for every parameter ``w`` of ``model`` and its copy ``a`` in
    ``averaged`` (buffers copied): an exponential moving average of a generator's weights, which
    damps the oscillation of GAN training around its equilibrium (Yazici et al. 2019)."""
    for a, w in zip(averaged.parameters(), model.parameters()):
        a.lerp_(w, 1.0 - decay)
    for a, w in zip(averaged.buffers(), model.buffers()):
        a.copy_(w)


def train_wgan(
    data: str | Callable[[int, int], torch.Tensor],
    *,
    steps: int,
    batch_size: int = 256,
    critic_steps: int = 3,
    lr_generator: float = 5e-4,
    lr_critic: float = 2e-3,
    latent_dim: int = 8,
    generator: nn.Module | None = None,
    critic: nn.Module | None = None,
    gp_weight: float = 0.0,
    log_every: int = 100,
    log_samples: int = 1000,
    eval_samples: int = EVAL_SAMPLES,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    checkpoint_every: int | None = None,
    grid_dir: str | os.PathLike | None = None,
    image_shape: tuple[int, int, int] | None = None,
    device: str | torch.device = "cpu",
    max_seconds: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
    generator_ema: float | None = None,
    progress: bool = True,
) -> WGANResult:
    """Train a WGAN on ``data``: a toy name of :data:`critics.toy.TOY_DATASETS`, or a function
    ``(n, seed) -> (n, d) tensor`` drawing real samples.

    Each step makes ``critic_steps`` Adam steps (betas 0.5, 0.9) on the critic loss
    ``E f(G(z)) - E f(x)`` (+ ``gp_weight`` times the gradient penalty) followed by
    :func:`lipapps.project_` (:func:`critic_step`), then one generator step on ``-E f(G(z))``
    (:func:`generator_step`). Every ``log_every`` steps the history records the critic's gap on
    fresh batches of ``log_samples`` (divided by its certificate for a constrained
    :class:`lipapps.CertifiedModel` critic, a lower bound on their W1; then also its
    ``certificate``) and their exact W1. With ``checkpoint`` the
    state is written atomically every ``checkpoint_every`` steps (default ``log_every``) and at the
    end; ``resume`` continues from it, and gives the run an uninterrupted one would have: the
    state holds both networks, both optimisers and the noise generator, and the real batches are
    a function of the seed and the step. ``grid_dir`` (images, with ``image_shape``): a grid of
    64 samples from fixed noise, ``grid_dir/step_<step>.png``, at each checkpoint step.
    ``device``: where both networks train (noise and data are drawn on the CPU, then moved).
    ``max_seconds``: a budget of training seconds (of ``clock``); training also stops after the first step at which the
    training time (summed over resumed calls, without restarts, stored in the checkpoint)
    reaches it, and that step is checkpointed (and its grid written) but not logged: a log point
    runs the critic, which moves the warm starts of its bounds, so logging only at multiples of
    ``log_every`` keeps a run that was stopped and resumed the uninterrupted one.
    ``clock``: the clock of ``max_seconds`` and of the seconds recorded (wall time by default;
    ``time.process_time`` counts this process's CPU seconds, which other work on a shared machine
    does not inflate: for a one-thread run, the wall clock of an idle core).
    ``generator_ema``: a decay in ``[0, 1)``; the run then also keeps the exponential moving
    average of the generator's weights (:func:`average_weights_` with :func:`ema_decay`, updated
    after every generator step, checkpointed with the rest), returned as ``averaged_generator``,
    sampled by the grids and the final exact W1. Training itself does not depend on it.
    ``eval_samples=0`` skips the final exact W1 (``nan``).
    """
    draw = _sampler(data)
    checkpoint_every = log_every if checkpoint_every is None else checkpoint_every
    if steps < 1 or batch_size < 2 or critic_steps < 1 or log_every < 1 or checkpoint_every < 1 or eval_samples < 0:
        raise InputError("steps, critic_steps, log_every and checkpoint_every must be at least 1, batch_size at least 2 "
                         "and eval_samples at least 0")
    if max_seconds is not None and not max_seconds > 0:
        raise InputError(f"max_seconds must be positive, got {max_seconds}")
    if grid_dir is not None and image_shape is None:
        raise InputError("sample grids (grid_dir) need the image_shape of the samples")
    if generator_ema is not None and not 0.0 <= generator_ema < 1.0:
        raise InputError(f"generator_ema must be in [0, 1), got {generator_ema}")
    torch.manual_seed(seed)
    dim = draw(2, seed).shape[1]
    generator = make_generator(latent_dim, dim) if generator is None else generator
    critic = make_critic(dim) if critic is None else critic
    generator.to(device)
    critic.to(device)
    run = WGANState(
        generator, critic, torch.optim.Adam(generator.parameters(), lr=lr_generator, betas=(0.5, 0.9)),
        torch.optim.Adam(critic.parameters(), lr=lr_critic, betas=(0.5, 0.9)), torch.Generator().manual_seed(seed + 1),
        None if generator_ema is None else copy.deepcopy(generator).requires_grad_(False),
    )
    ckpt = Path(checkpoint) if checkpoint is not None else None
    start_step, history, elapsed = 0, [], 0.0
    if resume and ckpt is not None and ckpt.exists():
        start_step, history, elapsed = run.load(ckpt)
    t0 = clock() - elapsed

    certified = isinstance(critic, lipapps.CertifiedModel) and critic.is_constrained()
    sampling = generator_to_sample(generator, run.averaged)

    def log(step: int) -> dict:
        return _log_point(generator, critic, draw, step, latent_dim, log_samples, seed, certified)

    if not history:
        history.append(log(0) | {"seconds": 0.0})
    end = steps if max_seconds is None or elapsed < max_seconds else start_step  # a spent budget: no step
    step = start_step
    for step in tqdm(range(start_step + 1, end + 1), desc="wgan", disable=not progress, initial=start_step, total=steps):
        for k in range(critic_steps):
            critic_step(run, draw(batch_size, 10_000_019 * seed + critic_steps * step + k), batch_size, latent_dim, gp_weight)
        generator_step(run, batch_size, latent_dim)
        if run.averaged is not None:
            average_weights_(run.averaged, generator, ema_decay(generator_ema, step))
        out_of_time = max_seconds is not None and clock() - t0 >= max_seconds
        if step % log_every == 0 or step == steps:
            history.append(log(step) | {"seconds": clock() - t0})
        if step % checkpoint_every == 0 or step == steps or out_of_time:
            if ckpt is not None:
                run.save(ckpt, step, history, clock() - t0)
            if grid_dir is not None:
                write_sample_grid(sampling, Path(grid_dir) / f"step_{step:06d}.png", image_shape, latent_dim, seed,
                                  f"step {step}")
        if out_of_time:
            break
    seconds = clock() - t0
    final_w1 = float("nan")
    if eval_samples > 0:
        real = draw(eval_samples, seed + 7).double().numpy()
        fake = sample_generator(sampling, eval_samples, latent_dim, seed + 8).double().numpy()
        final_w1 = exact_w1(real, fake)
    return WGANResult(generator, critic, history, final_w1, eval_samples, seconds, step, run.averaged)


def write_sample_grid(generator: nn.Module, path: Path, image_shape: tuple[int, int, int], latent_dim: int, seed: int,
                      title: str) -> None:
    """An 8 x 8 grid of samples from the noise of ``seed`` (the same at every call, so that grids
    written during training show its progress) at ``path`` (a PNG)."""
    from critics.plots import plot_image_grid

    path.parent.mkdir(parents=True, exist_ok=True)
    fake = sample_generator(generator, 64, latent_dim, seed + 13).numpy()
    plot_image_grid(fake, image_shape, path, title)


@torch.no_grad()
def _log_point(generator, critic, draw, step: int, latent_dim: int, n: int, seed: int, certified: bool) -> dict:
    """Critic gap (certified: divided by ``lipapps.certify``, also logged) and exact W1 on fresh batches."""
    real = draw(n, seed + 3 * step + 1)
    fake = sample_generator(generator, n, latent_dim, seed + 3 * step + 2)
    device = _device(critic)
    gap = float(kantorovich_gap(critic, real.to(device), fake.to(device)))
    point = {"step": step}
    if certified:
        point["certificate"] = lipapps.certify(critic).upper_bound
        gap /= point["certificate"]
    exact = exact_w1(real.double().numpy(), fake.double().numpy())
    return point | {"critic_estimate": gap, "exact_w1": exact}


def write_wgan_outputs(
    result: WGANResult,
    data: str | Callable[[int, int], torch.Tensor],
    out: Path,
    *,
    name: str | None = None,
    latent_dim: int = 8,
    seed: int = 0,
    image_shape: tuple[int, int, int] | None = None,
) -> dict:
    """Save the figures and ``metrics.json`` (written atomically) into ``out``; return the metrics.

    2-D data: ``samples.png`` (real and generated) and ``critic.png`` (level sets); images
    (``image_shape`` given): ``samples.png`` (grids of real and generated images). Both:
    ``training_curve.png`` (critic estimate and exact W1 against the step).
    """
    from critics.plots import plot_critic, plot_image_grids, plot_samples, plot_training_curve

    out.mkdir(parents=True, exist_ok=True)
    name = name if name is not None else (data if isinstance(data, str) else "data")
    draw = _sampler(data)
    real = draw(2000, seed + 11).numpy()
    fake = sample_generator(result.sampling_generator, 2000, latent_dim, seed + 12).numpy()
    steps = result.steps
    title = f"{name}: step {steps}, exact W1 {result.final_w1:.4f}"
    if image_shape is None:
        plot_samples(real, fake, out / "samples.png", title)
        plot_critic(result.critic, real, fake, out / "critic.png", "critic level sets", labels=("real", "generated"))
    else:
        plot_image_grids(real[:64], fake[:64], image_shape, out / "samples.png", title)
    plot_training_curve(result.history, out / "training_curve.png", f"{name}: critic estimate vs exact W1")
    metrics = {
        "data": name,
        "steps": steps,
        "final_exact_w1": result.final_w1,
        "eval_samples": result.eval_samples,
        "seconds": result.seconds,
        "history": result.history,
    }
    with lipapps.atomic_write(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    return {k: v for k, v in metrics.items() if k != "history"}
