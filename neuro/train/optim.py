"""Optimizer and learning-rate schedule from a :class:`~neuro.train.config.TrainConfig`.

The schedule is a ``LambdaLR`` stepped once per optimizer step, so a resumed run (which restores
``last_epoch``, i.e. the step count) lands on exactly the same learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .config import TrainConfig


class Lamb(torch.optim.Optimizer):
    r"""LAMB (You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes", ICLR 2020).

    Per parameter tensor :math:`w` with gradient :math:`g` at step :math:`t`:

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g, \quad v \leftarrow \beta_2 v + (1-\beta_2) g^2, \quad
        u = \frac{m / (1-\beta_1^t)}{\sqrt{v / (1-\beta_2^t)} + \epsilon} + \lambda w, \quad
        w \leftarrow w - \eta\, r\, u, \quad r = \frac{\lVert w \rVert}{\lVert u \rVert}

    with the trust ratio :math:`r = 1` when either norm is zero or the tensor has no weight decay
    (:math:`\lambda = 0`: biases and norm scales, as in timm's ``Lamb``). timm's ``Lamb`` also clips the
    global gradient norm at 1.0 by default; here that is the trainer's ``grad_clip`` (the shipped
    Spike-driven Transformer recipes set ``grad_clip = 1.0``).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6, weight_decay: float = 0.0):
        if lr <= 0 or eps <= 0 or weight_decay < 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Lamb: need lr > 0, eps > 0, weight_decay >= 0, betas in [0, 1); got lr={lr}, eps={eps}, "
                             f"weight_decay={weight_decay}, betas={betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            wd = group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if g.is_sparse:
                    raise RuntimeError("Lamb does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = float(state["step"])
                m, v = state["exp_avg"], state["exp_avg_sq"]
                m.mul_(b1).add_(g, alpha=1.0 - b1)
                v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
                update = (m / (1.0 - b1**t)) / ((v / (1.0 - b2**t)).sqrt_().add_(group["eps"]))
                ratio = 1.0
                if wd != 0.0:
                    update.add_(p, alpha=wd)
                    w_norm, u_norm = float(p.norm()), float(update.norm())
                    if w_norm > 0.0 and u_norm > 0.0:
                        ratio = w_norm / u_norm
                p.add_(update, alpha=-group["lr"] * ratio)
        return loss


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (momentum, Nesterov), AdamW or :class:`Lamb` over the trainable parameters.

    With ``decay_bias_and_norm=False`` one-dimensional parameters (biases, norm scales, neuron time
    constants) get no weight decay, as timm does for the spiking-transformer recipes.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    if cfg.decay_bias_and_norm or cfg.weight_decay == 0.0:
        groups = [{"params": params, "weight_decay": cfg.weight_decay}]
    else:
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        groups = [g for g in ({"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.optimizer == "lamb":
        return Lamb(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps)


def lr_factor(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """The multiplier of ``cfg.lr`` after ``step`` optimizer steps (see :class:`TrainConfig`)."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    total = int(round((cfg.epochs - cfg.cooldown_epochs) * steps_per_epoch))
    warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), total)
    floor = cfg.min_lr / cfg.lr

    def factor(step: int) -> float:
        if step < warmup:
            return cfg.warmup_start_factor + (1.0 - cfg.warmup_start_factor) * step / warmup
        if cfg.schedule == "constant":
            return 1.0
        if cfg.schedule == "step":
            return max(cfg.gamma ** (step // (cfg.step_epochs * steps_per_epoch)), floor)
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps_per_epoch))
