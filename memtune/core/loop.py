"""The bookkeeping every memtune training loop shares, and nothing else.

The loops really differ (epochs or steps, samplers, what they evaluate, when they stop), so they
stay in their experiments. What they all do alike lives here: a state that a checkpoint saves and
a resumed run continues from (``LoopState``), the running train loss kept on the device so that no
step syncs with the host, and the clock that splits wall time into training and evaluation
(``LoopMeter``).

    meter = LoopMeter(state, device)
    meter.add(optimizer_step(...), tokens)           # every step, no host sync
    meter.eval_started(); ...evaluate...; meter.eval_finished()
    metrics["train_loss"] = meter.take_train_loss_bits()   # one sync per evaluation
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from memtune.core.metrics import LN2

STATE_FILE = "train_state.pt"


@dataclass
class LoopState:
    """Everything a loop needs to continue exactly where it stopped; experiments subclass it."""

    step: int = 0
    tokens_seen: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    stop_reason: str = ""  # set in the final checkpoint: a restored finished run does not train
    final_metrics: dict[str, Any] = field(default_factory=dict)
    checkpoint_step: int = 0  # step of the last checkpoint (see checkpoint_due)
    model: dict[str, Any] = field(default_factory=dict)
    optimizer: dict[str, Any] = field(default_factory=dict)

    def checkpoint_due(self, every: int, final: bool) -> bool:
        """Whether to checkpoint at this evaluation, and if so remember its step.

        Due at the first evaluation at least ``every`` steps after the last checkpoint (not at
        ``step % every == 0``, which never holds when evaluations fall elsewhere), and at the end;
        never when ``every`` is 0.
        """
        due = every > 0 and (final or self.step - self.checkpoint_step >= every)
        if due:
            self.checkpoint_step = self.step
        return due

    def snapshot(self, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        """Copy (not view) the weights and optimizer: the caller may keep the state while
        training goes on."""
        self.model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        self.optimizer = copy.deepcopy(opt.state_dict())

    def restore(self, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        model.load_state_dict(self.model)
        opt.load_state_dict(self.optimizer)  # moves the moments to the parameters' device

    def save(self, directory: str) -> None:
        torch.save(self.__dict__, os.path.join(directory, STATE_FILE))

    @classmethod
    def load(cls, directory: str) -> LoopState:
        """The state in ``directory``; keys this class does not know are dropped, so a checkpoint
        written by another state class (or an older version) still restores."""
        saved = torch.load(os.path.join(directory, STATE_FILE), weights_only=False)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})


class LoopMeter:
    """The running train loss (a device tensor) and the train/eval clock of one loop.

    Times accumulate into the state's ``train_seconds``/``eval_seconds``, so they survive a
    checkpoint and a resume.
    """

    def __init__(self, state: LoopState, device: str | torch.device) -> None:
        self.state = state
        self.loss_sum = torch.zeros((), device=device)  # nats/token since the last take
        self.steps = 0
        self._t = time.perf_counter()

    def add(self, loss: torch.Tensor, tokens: int = 0) -> None:
        """Count one optimizer step of ``tokens`` tokens and its loss (a device tensor)."""
        self.loss_sum += loss
        self.steps += 1
        self.state.step += 1
        self.state.tokens_seen += tokens

    def eval_started(self) -> None:
        t = time.perf_counter()
        self.state.train_seconds += t - self._t
        self._t = t

    def eval_finished(self) -> None:
        t = time.perf_counter()
        self.state.eval_seconds += t - self._t
        self._t = t

    def take_train_loss_nats(self) -> float:
        """Mean train loss (nats/token) since the last take, and start a new mean."""
        value = self.loss_sum.item() / max(self.steps, 1)
        self.loss_sum.zero_()
        self.steps = 0
        return value

    def take_train_loss_bits(self) -> float:
        return self.take_train_loss_nats() / LN2


class TablesCheckpoint(dict):
    """Named tables (file stem -> DataFrame) that a checkpoint stores as ``<stem>.parquet``.

    For loops whose result is tables rather than a resumable state (the prediction study): the
    Tune trainable saves it like a ``LoopState``, into a checkpoint Tune persists with the trial.
    """

    def save(self, directory: str) -> None:
        for stem, table in self.items():
            table.to_parquet(os.path.join(directory, f"{stem}.parquet"))
