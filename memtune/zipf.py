"""Zipf-frequency memorization (seed 001): the data, the sampler, the models, the loop. No Ray.

K random binary sequences of T bits; at every step a batch of B is drawn with replacement, the
sequence of rank r with probability p_r = r^-alpha / sum_s s^-alpha. ``train_zipf`` counts every
presentation of every sequence on the device and, at log-spaced steps, evaluates each sequence's
loss and accuracy, so one trial yields rows (rank, presentations so far, loss, accuracy) over
training: ``report(metrics, state, rows)`` hands them to the caller (the Tune trainable writes
them to a parquet file in the trial directory, tests keep them in a list).

Two reference numbers per sequence come from the data alone (``bayes_reference``): the loss and
accuracy of the Bayes-optimal predictor of the Zipf mixture, which knows all K sequences and
their frequencies. Its loss is the floor no model can beat on average, -log2(p_r) / T bits per
token for sequence r; and its accuracy is below 1 for a rare sequence whose prefix is shared with
more frequent ones, whose next bits it then predicts.

The phenomenological model (``PhenoModel``) is the seed's: the representation at position n is a
linear read-out of the +-1 prefix bits, v_n = sum_{i<=n} A^(n)_i xi_i, and P(next bit = 1) =
sigmoid(v_n . B), trained with binary cross-entropy.

    python -c "from memtune.zipf import train_zipf; from memtune.zipf_config import ZipfConfig; \
print(train_zipf(ZipfConfig(max_steps=300))[-1])"
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from memtune.datasets import with_bos
from memtune.metrics import LN2
from memtune.models import build_model, count_params
from memtune.train import TrainState, lr_at, make_optimizer, optimizer_step
from memtune.zipf_config import ArchConfig, ZipfConfig, ZipfDataConfig

VOCAB = 2  # binary sequences
RECORDS_FILE = "zipf_records.parquet"  # per-sequence records, one file per trial directory
SAMPLER_CHUNK = 256  # steps whose batches are drawn in one multinomial call

Report = Callable[[dict[str, Any], "ZipfState | None", "pd.DataFrame | None"], None]


def zipf_probs(n_seqs: int, alpha: float) -> np.ndarray:
    """p_r = r^-alpha / sum_{s=1..K} s^-alpha for ranks r = 1..K, as a (K,) float64 array."""
    w = np.arange(1, n_seqs + 1, dtype=np.float64) ** -float(alpha)
    return w / w.sum()


def make_zipf_sequences(cfg: ZipfDataConfig, seed: int) -> torch.Tensor:
    """K distinct uniform random binary sequences, (K, T) int64; row r-1 has rank r.

    Distinct, so that each rank is one sequence and its presentations are its own. The generator
    is keyed by (seed, K, T), so the same trial seed gives the same sequences whatever alpha is:
    arms that differ only in alpha train on the same sequences.
    """
    rng = np.random.default_rng([seed, cfg.n_seqs, cfg.seq_len, 1])  # 1: seed 001's stream
    out = np.empty((0, cfg.seq_len), dtype=np.int64)
    while out.shape[0] < cfg.n_seqs:
        draw = rng.integers(0, VOCAB, size=(cfg.n_seqs - out.shape[0], cfg.seq_len))
        both = np.concatenate([out, draw])
        _, first = np.unique(both, axis=0, return_index=True)
        out = both[np.sort(first)]
    return torch.from_numpy(out)


class ZipfSampler:
    """Batch indices drawn with replacement from p, a pure function of (seed, step).

    Batches are drawn ``SAMPLER_CHUNK`` steps at a time by ``torch.multinomial`` on the device
    from a generator seeded by (seed, chunk), so there is no per-step host round trip, and a run
    resumed at any step draws exactly what the uninterrupted run would have drawn.
    """

    def __init__(self, probs: np.ndarray, batch_size: int, seed: int, device: str = "cpu") -> None:
        self.probs = torch.as_tensor(probs, dtype=torch.float64, device=device)
        self.batch_size, self.seed = batch_size, seed
        self.gen = torch.Generator(device=device)
        self._chunk, self._draws = -1, torch.empty(0, dtype=torch.long)

    def __call__(self, step: int) -> torch.Tensor:
        """The (B,) int64 indices (rank - 1) of the batch of training step ``step``."""
        chunk, i = divmod(step, SAMPLER_CHUNK)
        if chunk != self._chunk:
            self.gen.manual_seed(self.seed * 1_000_003 + chunk)
            n = SAMPLER_CHUNK * self.batch_size
            draws = torch.multinomial(self.probs, n, replacement=True, generator=self.gen)
            self._chunk, self._draws = chunk, draws.view(SAMPLER_CHUNK, self.batch_size)
        return self._draws[i]


def bayes_reference(data: torch.Tensor | np.ndarray, probs: np.ndarray) -> pd.DataFrame:
    """Loss and accuracy of the Bayes-optimal predictor of the Zipf mixture, per sequence.

    At position t the predictor gives P(x_t = 1 | x_<t) = sum of p_s over the sequences s that
    share the prefix x_<t and have a 1 at t, over the sum of p_s of those sharing the prefix.
    Summed over t the code length of sequence r telescopes to -log2 p_r: the floor of any model
    trained on these draws. Its argmax prediction can be wrong for a rare sequence whose prefix
    is shared with a more frequent one, so its accuracy can be < 1 (ties count as wrong).

    Args:
        data: (K, T) binary sequences, row r-1 of rank r.
        probs: (K,) sampling probabilities.
    Returns:
        a frame with columns rank, p, floor_bits (per token) and bayes_accuracy, one row each.
    """
    x = np.asarray(data.cpu() if isinstance(data, torch.Tensor) else data, dtype=np.int64)
    K, T = x.shape
    group = np.zeros(K, dtype=np.int64)  # id of each sequence's prefix x_<t among the K
    nats = np.zeros(K)
    correct = np.zeros(K)
    for t in range(T):
        n_groups = int(group.max()) + 1
        mass = np.bincount(group, weights=probs, minlength=n_groups)
        ones = np.bincount(group, weights=probs * x[:, t], minlength=n_groups)
        p1 = ones[group] / mass[group]
        p_own = np.where(x[:, t] == 1, p1, 1.0 - p1)
        nats -= np.log(p_own)
        correct += p_own > 0.5
        _, group = np.unique(group * 2 + x[:, t], return_inverse=True)
    return pd.DataFrame(
        {
            "rank": np.arange(1, K + 1),
            "p": probs,
            "floor_bits": nats / LN2 / T,
            "bayes_accuracy": correct / T,
        }
    )


class PhenoModel(nn.Module):
    """The seed's phenomenological model: a linear read-out of the prefix, then a sigmoid.

    Input ids (B, T) are [BOS, x_1 .. x_{T-1}] as for the GPT; each becomes xi = +1 (bit 1 or
    BOS) or -1 (bit 0), so the BOS term acts as a bias. The representation for predicting bit n
    is v_n = sum_{i<=n} A^(n)_i xi_i with A^(n)_i in R^d (d = ``d_feature``), and
    P(x_n = 1) = sigmoid(v_n . B). The forward returns the logits (0, v_n . B) over {0, 1}, so
    that cross-entropy on them is exactly the binary cross-entropy of sigmoid(v_n . B), and the
    loop, the optimizer step and the evaluation are shared with the GPT.
    """

    def __init__(self, seq_len: int, d_feature: int, bos_id: int = VOCAB) -> None:
        super().__init__()
        self.bos_id = bos_id
        self.A = nn.Parameter(torch.randn(seq_len, seq_len, d_feature) * 0.02)  # (n, i, d)
        self.B = nn.Parameter(torch.randn(d_feature) / d_feature**0.5)
        self.register_buffer("causal", torch.tril(torch.ones(seq_len, seq_len)), persistent=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Map input ids (B, T) to logits (B, T, 2)."""
        T = idx.size(1)
        xi = torch.where(idx == 0, -1.0, 1.0)  # (B, T): bits to -1/+1, BOS to +1
        A = self.A[:T, :T] * self.causal[:T, :T, None]  # (T, T, d), A^(n)_i = 0 for i > n
        v = torch.einsum("nid,bi->bnd", A, xi)  # (B, T, d)
        z = v @ self.B  # (B, T)
        return torch.stack([torch.zeros_like(z), z], dim=-1)


def build_zipf_model(arch: ArchConfig, seq_len: int) -> nn.Module:
    """The GPT of ``arch.model`` or the phenomenological model, both with a BOS input id."""
    if arch.kind == "pheno":
        return PhenoModel(seq_len, arch.d_feature)
    return build_model(arch.model, vocab_size=VOCAB, block_size=seq_len)


def peak_lr(cfg: ZipfConfig) -> float:
    """optim.lr, or optim.lr_scale / width, times arch.lr_mult."""
    return cfg.optim.peak_lr(cfg.arch.width) * cfg.arch.lr_mult


@torch.no_grad()
def evaluate_sequences(
    model: nn.Module, inputs: torch.Tensor, data: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence loss (bits per token) and token accuracy (argmax), each (K,), teacher forced.

    Args:
        model: maps input ids (K, T) to logits (K, T, 2).
        inputs: (K, T) [BOS, x_1 .. x_{T-1}].
        data: (K, T) the bits to predict.
    """
    was_training = model.training
    model.eval()
    logits = model(inputs).float()
    nats = F.cross_entropy(logits.transpose(1, 2), data, reduction="none")  # (K, T)
    acc = (logits.argmax(-1) == data).float().mean(1)
    model.train(was_training)
    return nats.mean(1) / LN2, acc


@dataclass
class ZipfState(TrainState):
    """``TrainState`` plus the presentation counts, so a resumed run keeps counting."""

    counts: list[int] = field(default_factory=list)
    checkpoint_step: int = 0  # step of the last checkpoint


def pheno_param_count(seq_len: int, d_feature: int) -> int:
    """Parameters of ``PhenoModel`` that reach its output: A^(n)_i for i <= n, and B.

    ``count_params`` would count the whole (T, T, d) tensor A, half of which the causal mask
    zeroes; this is the count the model is compared by.
    """
    return seq_len * (seq_len + 1) // 2 * d_feature + d_feature


def trial_columns(cfg: ZipfConfig, n_params: int) -> dict[str, Any]:
    """The values of ``zipf_config.TRIAL_COLUMNS`` for this trial."""
    gpt = cfg.arch.kind == "gpt"
    return {
        "experiment": cfg.arch.name,
        "kind": cfg.arch.kind,
        "n_layer": cfg.arch.model.n_layer if gpt else 0,
        "n_head": cfg.arch.model.n_head if gpt else 0,
        "d_model": cfg.arch.model.d_model if gpt else cfg.arch.d_feature,
        "pos_emb": cfg.arch.model.pos_emb if gpt else "none",
        "lr": peak_lr(cfg),
        "seed": cfg.seed,
        "alpha": float(cfg.data.alpha),
        "n_seqs": cfg.data.n_seqs,
        "seq_len": cfg.data.seq_len,
        "n_params": n_params,
    }


def train_zipf(
    cfg: ZipfConfig,
    report: Report | None = None,
    resume: ZipfState | None = None,
    device: str = "cpu",
    on_batch: Callable[[torch.Tensor], None] | None = None,
) -> list[dict[str, Any]]:
    """Train on Zipf-sampled batches, evaluating every sequence at ``cfg.eval_steps()``.

    Args:
        cfg: the trial's configuration.
        report: called as report(metrics, state, rows) after each evaluation: rows holds one
            record per sequence (``TRIAL_COLUMNS``, step, rank, p, presentations, loss_bits,
            accuracy, floor_bits, bayes_accuracy); state is not None when a checkpoint is due.
            A finished run restored from its final checkpoint reports its last metrics once
            more with rows None.
        resume: a state from ``ZipfState.load`` to continue from.
        device: where to train.
        on_batch: called with the sequences (B, T) of each training batch before the model
            sees them (tests count presentations independently with it; it syncs with the host).
    Returns:
        the reported metrics, one dict per evaluation.
    """
    report = report or (lambda metrics, state, rows: None)
    if resume is not None and resume.stop_reason:
        report(resume.final_metrics, None, None)
        return [resume.final_metrics]
    torch.manual_seed(cfg.seed)
    K, T = cfg.data.n_seqs, cfg.data.seq_len
    data = make_zipf_sequences(cfg.data, cfg.seed)
    probs = zipf_probs(K, cfg.data.alpha)
    reference = bayes_reference(data, probs)
    model = build_zipf_model(cfg.arch, T)
    n_params = (
        pheno_param_count(T, cfg.arch.d_feature)
        if cfg.arch.kind == "pheno"
        else count_params(model)
    )
    columns = trial_columns(cfg, n_params)
    model.to(device)
    data = data.to(device)
    inputs = with_bos(data, VOCAB)
    peak = peak_lr(cfg)
    opt = make_optimizer(model, cfg.optim, lr_at(0, peak, cfg.optim, cfg.max_steps))
    state = resume or ZipfState()
    counts = torch.zeros(K, dtype=torch.long, device=device)
    if resume is not None:
        model.load_state_dict(resume.model)
        opt.load_state_dict(resume.optimizer)
        counts += torch.tensor(resume.counts, dtype=torch.long, device=device)
    sampler = ZipfSampler(probs, cfg.optim.batch_size, cfg.seed, device)
    due = set(cfg.eval_steps())
    loss_sum = torch.zeros((), device=device)  # nats/token, kept on the device between reports
    loss_steps = 0
    records: list[dict[str, Any]] = []
    model.train()
    t0 = time.perf_counter()
    while state.step < cfg.max_steps:
        idx = sampler(state.step)
        counts += torch.bincount(idx, minlength=K)
        x, y = inputs[idx], data[idx]
        if on_batch is not None:
            on_batch(y)
        lr = lr_at(state.step, peak, cfg.optim, cfg.max_steps)
        loss_sum += optimizer_step(opt, model, model(x), y, lr, cfg.optim.grad_clip)
        loss_steps += 1
        state.step += 1
        state.tokens_seen += x.size(0) * T
        if state.step not in due:
            continue

        t1 = time.perf_counter()
        state.train_seconds += t1 - t0
        loss_bits, acc = evaluate_sequences(model, inputs, data)
        n = counts.cpu().numpy()
        loss_np, acc_np = loss_bits.cpu().numpy().astype(np.float64), acc.cpu().numpy()
        rows = reference.assign(
            **columns,
            step=state.step,
            presentations=n,
            loss_bits=loss_np,
            accuracy=acc_np,
        )
        t0 = time.perf_counter()
        state.eval_seconds += t0 - t1
        metrics = {
            "step": state.step,
            "presentations_total": int(n.sum()),
            "loss_bits": float(loss_np.mean()),  # mean over sequences, bits/token
            "loss_bits_zipf": float((probs * loss_np).sum()),  # weighted as trained on
            "floor_bits_zipf": float((probs * reference["floor_bits"]).sum()),
            "accuracy": float(acc_np.mean()),
            "seqs_perfect": int((acc_np == 1.0).sum()),  # sequences at 100% token accuracy
            "train_loss": loss_sum.item() / max(loss_steps, 1) / LN2,  # bits/token
            "lr": lr,
            "n_params": n_params,
            "records_file": RECORDS_FILE,
            "records_rows": len(rows),
            "train_seconds": state.train_seconds,
            "eval_seconds": state.eval_seconds,
        }
        loss_sum.zero_()
        loss_steps = 0
        finished = state.step >= cfg.max_steps
        # checkpoints go with evaluations, so the first one at least checkpoint_every steps on
        keep = cfg.checkpoint_every > 0 and (
            finished or state.step - state.checkpoint_step >= cfg.checkpoint_every
        )
        if keep:
            state.checkpoint_step = state.step
            state.counts = n.tolist()
            state.model = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            state.optimizer = copy.deepcopy(opt.state_dict())
            if finished:
                state.stop_reason, state.final_metrics = "max_steps", metrics
        records.append(metrics)
        report(metrics, state if keep else None, rows)
    return records


class RecordsFile:
    """The trial's per-sequence records: one parquet file, rewritten whole at every evaluation.

    Written through a pyarrow filesystem straight into the trial directory of the experiment
    store (local, NFS or s3://), not into Tune's local staging folder, which is synced to the
    store only for some trials (with reused actors, not at all). Rewriting the whole file keeps
    it a valid parquet file at every moment a trial can die. A trial restored from a checkpoint
    at step s first drops the rows of evaluations after s, which it is about to redo.
    """

    def __init__(self, filesystem: Any, directory: str, resume_step: int | None = None) -> None:
        import pyarrow.parquet as pq

        self.fs, self.path = filesystem, f"{directory.rstrip('/')}/{RECORDS_FILE}"
        self.frames: list[pd.DataFrame] = []
        if resume_step is not None and self._exists():
            old = pq.read_table(self.path, filesystem=self.fs).to_pandas()
            self.frames = [old[old["step"] <= resume_step]]

    def _exists(self) -> bool:
        from pyarrow import fs as pafs

        return self.fs.get_file_info(self.path).type == pafs.FileType.File

    def append(self, rows: pd.DataFrame) -> None:
        """Add one evaluation's rows and rewrite the file (via a temporary name, then move)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.frames.append(rows)
        table = pa.Table.from_pandas(
            pd.concat(self.frames, ignore_index=True), preserve_index=False
        )
        tmp = self.path + ".tmp"
        pq.write_table(table, tmp, filesystem=self.fs)
        self.fs.move(tmp, self.path)
