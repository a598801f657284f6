"""Stopping a run that diverged, before it writes non-finite weights.

Every optimizer step checks the loss (averaged over processes, so every process decides alike) before its backward
and the global gradient norm before the optimizer steps: a non-finite value ends the run with
:class:`TrainingDivergedError`, and the weights are never updated from it. Under fp16 a non-finite gradient norm is
normal at the start of a run (the loss scaler skips the step and lowers its scale), so it is allowed for a few steps
in a row. The trained weights are checked once more before any checkpoint or final folder is written.
"""

from __future__ import annotations

import math

import torch
from accelerate import Accelerator


class TrainingDivergedError(RuntimeError):
    """The loss, the gradients or the weights became non-finite: the run stops without writing weights."""


ADVICE = (
    "lower --learning_rate (or raise --lr_warmup_steps, keep --max_grad_norm > 0); no weights were written from this "
    "step on (earlier checkpoints are intact)"
)


class DivergenceGuard:
    """Checks of one run. ``fp16``: the gradients are scaled by accelerate's ``GradScaler``, which skips overflowing
    steps itself; ``max_skipped_steps``: how many optimizer steps in a row it may skip."""

    def __init__(self, fp16: bool, max_skipped_steps: int = 10) -> None:
        if max_skipped_steps < 0:
            raise ValueError(f"max_skipped_steps: expected >= 0, got {max_skipped_steps}")
        self.fp16, self.max_skipped_steps = fp16, max_skipped_steps
        self.skipped_in_a_row = 0

    def check_loss(self, loss: float, step: int) -> None:
        """``loss``: this micro-batch's loss averaged over processes; ``step``: the optimizer step it belongs to."""
        if not math.isfinite(loss):
            raise TrainingDivergedError(f"the loss of step {step} is {loss}: the run diverged; {ADVICE}")

    def check_gradients(self, grad_norm: float | None, step: int) -> None:
        """``grad_norm``: the global gradient norm before clipping (``None`` when the engine clips by itself)."""
        if grad_norm is None or math.isfinite(grad_norm):
            self.skipped_in_a_row = 0
            return
        if self.fp16 and self.skipped_in_a_row < self.max_skipped_steps:
            self.skipped_in_a_row += 1  # the scaler skips this step and lowers its scale
            return
        detail = f" ({self.skipped_in_a_row} fp16 steps in a row skipped before)" if self.fp16 else ""
        raise TrainingDivergedError(
            f"the gradient norm of step {step} is {grad_norm}{detail}: the run diverged; {ADVICE}"
        )


def check_finite_parameters(accelerator: Accelerator, parameters: list[torch.nn.Parameter], what: str) -> None:
    """Raise :class:`TrainingDivergedError` (on every process alike) when any of the trained ``parameters`` (this
    process's shards) holds a non-finite value; ``what`` names what was about to be written."""
    device = parameters[0].device if parameters else accelerator.device
    bad = torch.zeros((), device=device)
    for parameter in parameters:
        bad += (~torch.isfinite(parameter.detach())).any().float()
    bad = accelerator.reduce(bad.to(accelerator.device), reduction="sum")  # one process: a copy
    if bad.item() > 0:
        raise TrainingDivergedError(f"{int(bad.item())} trained tensor(s) hold non-finite values; {what} was not "
                                    f"written; {ADVICE}")  # fmt: skip
