"""Capacity: bits memorized vs parameters on random binary sequences (seed 002, Morris et al.).

A grid of model size x dataset size x seed; each trial trains one GPT on N uniform random
sequences of 64 bits and reports H(X) - H(X|theta). Capacity is the plateau over N; the fit of
capacity vs parameters gives bits per parameter (Morris et al.: about 3.6).

    python sweeps/capacity.py                    # default preset, < 10 min on 2 cores
    python sweeps/capacity.py --preset smoke     # tests, < 1 min
    python sweeps/capacity.py --preset cpu       # 3 models x 2 N x 2 seeds, ~35 min on 2 cores
    python sweeps/capacity.py --preset protocol  # the protocol study (docs/capacity.md), ~12 min
    python sweeps/capacity.py --preset seeds     # 3 data draws x 3 inits: the seed's spread
    python sweeps/capacity.py --preset vocab     # V x tying x 2 seeds: where 3.6 comes from
    python sweeps/capacity.py --preset bodies    # two depths at each V and tying: 3.6, identified
    python sweeps/capacity.py --preset precision # fp32 vs mixed vs pure bf16 on cpu-xxs
    python sweeps/capacity.py --preset paper --address auto --gpus-per-trial 0.25
    python sweeps/capacity.py --preset morris --address auto --gpus-per-trial 0.5
"""

import sys

from memtune.core.cli import run_cli
from memtune.core.config import ModelConfig, OptimConfig, replace
from memtune.core.cost import batch_used, step_ms
from memtune.core.param_counts import gpt_param_count
from memtune.experiments.capacity.config import DataConfig, TrainConfig
from memtune.tune.sweep import Grid, Sweep, asdict, follow_budget, run_sweep

FLOOR = 0.05  # the hold's lr, as a fraction of the peak (the ground truth's 5%)
DEFAULT_STEPS = 48_000  # README command 1
CPU_STEPS = 36_000  # the cpu preset (12 trials)
STUDY_STEPS = 24_000  # the protocol study (9 trials)
VOCAB_STEPS = DEFAULT_STEPS  # the vocab preset: the protocol the default converges at
# the precision preset: pure bf16 costs 3.8x fp32 a step on this CPU (23.8 vs 6.3 ms, cpu-xxs)
# and mixed (CPU autocast) 4.25x, so half the study's budget: 9 trials fit 2 cores in about
# half an hour. Each dtype is judged by its own verdict; a run its budget stopped is a bound
PRECISION_STEPS = STUDY_STEPS // 2
VOCABS = (256, 64, 16, 4, 2)  # the vocab preset's V, costliest first (the head grows with V)
# the bodies preset: two bodies at each V and tying, at the protocol study's budget, at which
# every wsd run of cpu-xxs saturated (36 trials of ~1-2 CPU-minutes per thousand steps)
BODIES_STEPS = STUDY_STEPS
BODIES_VOCABS = (256, 16, 2)
MORRIS_STEPS = 1_000_000
# "saturated": the least-squares trend of memorized bits over the last quarter of the run (the
# hold, less its first steps, where the bits still catch up with the decay) rose < 2%. At 5%
# of the peak lr the bits swing +-2% between evaluations, so a trend, not the best or the end
# points; training on for a third as long again at the floor lifted every run judged so by
# < 1%, and the one run it called "budget" by 2% (docs/capacity.md, "The saturation check")
SAT_FRACTION = 1 / 4
SAT_TOL = 0.02


def models(*names: str) -> Grid:
    return Grid(asdict(ModelConfig.preset(n)) for n in names)


# CPU presets: batch 128 and lr 0.6/d_model memorized most bits per CPU-second among the
# settings tried for a 4.4K-parameter model (batch 32/64/128/full, lr_scale 0.3-1.2, 60 s runs).
CPU_OPTIM = OptimConfig(batch_size=128, lr_scale=0.6, warmup_steps=100)


def protocol(max_steps: int, floor: float = FLOOR, **optim: object) -> TrainConfig:
    """The capacity protocol at a step budget (docs/capacity.md): a schedule fixed in advance,
    the ground truth's shape (the peak lr for the first half, a cosine down to ``floor`` x the
    peak over the next sixth, a hold at the floor for the last third), N at 2x each model's
    knee, and the verdict judged on the hold: "saturated" when the trend of memorized bits rose
    < SAT_TOL over the last quarter. Nothing in it depends on when noise trips a trigger, so two
    machines run the same schedule. ``optim`` overrides OptimConfig fields (the protocol
    study's settings)."""
    return TrainConfig(
        optim=replace(
            CPU_OPTIM, schedule="wsd", decay_steps=max_steps // 6, hold_steps=max_steps // 3,
            min_lr_frac=floor, stall_steps=max_steps // 8, **optim,
        ),
        max_steps=max_steps, eval_every=max(50, max_steps // 144), patience=max_steps,
        saturation_window=max_steps // 4, saturation_fraction=SAT_FRACTION,
        saturation_tol=SAT_TOL,
        knee_multiple=2.0,
    )  # fmt: skip


def trial_ms(config: dict) -> float:
    """Estimated CPU ms of one step of a trial (``memtune.core.cost``): its model, the batch it
    trains on (capped at its N, which knee_multiple places from the model's parameters)."""
    model, data = ModelConfig(**config["model"]), DataConfig(**config["data"])
    n_params = gpt_param_count(model, data.vocab_size, data.seq_len)
    placing = TrainConfig(
        data=data, knee_multiple=config["knee_multiple"], knee_bpp=config["knee_bpp"]
    )
    batch = batch_used(config["optim"]["batch_size"], placing.n_seqs_for(n_params))
    return step_ms(model, batch, data.seq_len, data.vocab_size, config["optim"]["dtype"])


STEP_QUANTUM = 1000  # budgets are whole thousands of steps


def equal_cpu_time(reference: TrainConfig):
    """The default's budget rule: every trial gets the CPU time ``reference`` takes at its
    ``max_steps``, so trials of different models end together, one per CPU. A trial's steps are
    that time over its own step's estimated cost, in whole thousands: cpu-xs (the reference)
    48,000, cpu-xxs (a step costs 2/3 of cpu-xs's) 72,000; any other model, batch or N the
    overrides give follows the same rule."""
    budget_ms = reference.max_steps * trial_ms(reference.to_dict())

    def steps_for(config: dict) -> int:
        steps = round(budget_ms / trial_ms(config) / STEP_QUANTUM) * STEP_QUANTUM
        return max(STEP_QUANTUM, steps)

    return steps_for


def settings(base: TrainConfig, **variants: dict) -> Grid:
    """A one-factor-at-a-time axis over optimizer settings, each named for tables."""
    return Grid(
        asdict(replace(base.optim, name=name, **change)) for name, change in variants.items()
    )


DEFAULT = protocol(DEFAULT_STEPS)
# README command 1 compiles its two trials' step (optim.compile): over a trial of 48,000-72,000
# steps the compiled step pays its compile time back many times (benchmarks/run.py,
# "step_compiled_life_ratio"; docs/performance.md). Presets whose figures the docs quote from
# eager runs stay eager: a compiled step is another float order, which moves a figure like a seed
DEFAULT_COMPILED = replace(DEFAULT, optim=replace(DEFAULT.optim, compile=True))
# the default's reference trial: cpu-xs at DEFAULT_STEPS; every model gets its CPU time
REFERENCE = replace(DEFAULT, model=ModelConfig.preset("cpu-xs"))
VOCAB = replace(protocol(VOCAB_STEPS), model=ModelConfig.preset("cpu-xxs"))
# Morris et al.'s Table 1: n_layer x d_model, heads of 16 channels, tied as GPT-2
MORRIS_MODELS = tuple(
    ModelConfig(
        name=f"morris-{n_layer}x{d}",
        n_layer=n_layer,
        d_model=d,
        n_head=d // 16,
        tie_embeddings=True,
    )  # fmt: skip
    for n_layer in (1, 2, 4, 8)
    for d in (32, 64, 128, 256)
)
STUDY = replace(protocol(STUDY_STEPS), model=ModelConfig.preset("cpu-xxs"))
# two bodies that share d_model and so every embedding and position parameter, and differ only
# in depth: cpu-xxs (one block) and the same with two blocks. At one V and tying their capacity
# difference over their body difference is what a body parameter holds, with no assumption
# about the embedding (docs/capacity.md, "Where 3.6 comes from")
BODIES = tuple(
    replace(ModelConfig.preset("cpu-xxs"), name=name, n_layer=n_layer, tie_embeddings=tied)
    for name, n_layer in (("cpu-xxs-2l", 2), ("cpu-xxs", 1))  # costliest first
    for tied in (False, True)
)
SEEDS_STEPS = DEFAULT_STEPS * 3 // 2  # cpu-xxs's budget in the default preset
SEEDS = replace(protocol(SEEDS_STEPS), model=ModelConfig.preset("cpu-xxs"))

PRESETS = {
    "smoke": Sweep(
        base=replace(
            protocol(300),
            data=DataConfig(n_seqs=16),
            eval_every=50,
            knee_multiple=0.0,
        ),  # fmt: skip
        space={"model": models("cpu-xxs", "cpu-xs"), "data": {"n_seqs": Grid([16, 64])}},
        about="4 tiny trials for tests, under a minute",
    ),
    # README command 1: one trial per model at 2x its knee, one model per CPU, each at its own
    # step budget so that the two CPUs finish together (equal_cpu_time): a cpu-xxs step costs
    # ~0.66 of a cpu-xs step (7.0 vs 10.4-11.1 ms, measured one process at a time), so cpu-xxs
    # runs the protocol at 72,000 steps while cpu-xs runs it at 48,000 (cpu-xs was still rising
    # +2.1% over its last quarter at 36,000; cpu-s, +4% at 24,000, would not fit ten minutes on
    # its own CPU; docs/capacity.md). More steps only move a run closer to its plateau, and
    # each trial is judged by its own verdict. benchmarks/run.py prints each CPU's busy seconds.
    "default": Sweep(
        base=DEFAULT_COMPILED,
        space={"model": models("cpu-xs", "cpu-xxs")},
        derive=follow_budget(protocol, DEFAULT, equal_cpu_time(REFERENCE)),
        shown=("max_steps",),
        about=f"2 trials of the capacity protocol (cpu-xs {DEFAULT_STEPS:,} steps, cpu-xxs "
        f"{DEFAULT_STEPS * 3 // 2:,}: the CPUs finish together), < 10 min on 2 cores",
    ),
    # Where capacity's spread over seeds comes from (docs/capacity.md): cpu-xxs at the default's
    # protocol and budget (eager: the step the docs' figures were measured with), with the data
    # draw and the initialisation seeded apart, 3 x 3; the diagonal is the default's seeds 0-2.
    # The analysis splits the variance into data, init and residual.
    "seeds": Sweep(
        base=SEEDS,
        space={"data": {"seed": Grid([0, 1, 2])}, "init_seed": Grid([0, 1, 2])},
        about=f"3 data draws x 3 inits on cpu-xxs ({SEEDS_STEPS:,} steps, the default's "
        "budget; 9 trials, ~50 min on 2 cores)",
    ),
    "cpu": Sweep(
        base=replace(protocol(CPU_STEPS), checkpoint_every=4000),
        # N at 1.5x and 3x each model's knee: past it, where the plateau is; two seeds give
        # each capacity an interval
        space={
            "model": models("cpu-s", "cpu-xs", "cpu-xxs"),  # longest first: no lone last trial
            "knee_multiple": Grid([3.0, 1.5]),
            "seed": Grid([0, 1]),
        },
        about=f"12 trials of the capacity protocol ({CPU_STEPS:,} steps), ~35 min on 2 cores",
    ),
    # The protocol study (docs/capacity.md): the fixed schedule against the stall trigger and a
    # plain cosine at the same budget, on cpu-xxs at 2x its knee, 3 seeds each (one seed's
    # ranking is noise: seeds differ by 10-20% at a short budget); compare where they end.
    "protocol": Sweep(
        base=STUDY,
        space={
            "optim": settings(
                STUDY,
                wsd={},
                plateau={"schedule": "plateau"},
                cosine={"schedule": "cosine"},
            ),
            "seed": Grid([0, 1, 2]),
        },
        about=f"3 schedules x 3 seeds on cpu-xxs ({STUDY_STEPS:,} steps), ~12 min on 2 cores",
    ),
    # Where 3.6 comes from (docs/capacity.md): V and tying on one body (cpu-xxs), N at each
    # configuration's knee (T log2 V bits a sequence), 2 seeds; the analysis fits capacity =
    # a x (body + position params) + b x embedding params across the groups
    "vocab": Sweep(
        base=VOCAB,
        space={
            "data": {"vocab_size": Grid(VOCABS)},
            "model": {"tie_embeddings": Grid([False, True])},
            "seed": Grid([0, 1]),
        },
        about=f"V {{{', '.join(map(str, VOCABS))}}} x tied/untied x 2 seeds on cpu-xxs "
        f"({VOCAB_STEPS:,} steps, 20 trials)",
    ),
    # Where 3.6 comes from, identified (docs/capacity.md): at each V, two bodies that differ
    # only in depth, so a_V (bits per body parameter) is a within-(V, tying) difference and b
    # (per embedding parameter) follows; 3 seeds. Untied at every V here; tied in "bodies-tied"
    # (V = 256 only: at V = 2 and 16 tying removes 16 and 128 parameters, far inside a seed's
    # spread of a capacity, so a tied-untied difference there measures nothing)
    "bodies": Sweep(
        base=replace(protocol(BODIES_STEPS), model=ModelConfig.preset("cpu-xxs")),
        space={
            "data": {"vocab_size": Grid(BODIES_VOCABS)},
            "model": Grid(asdict(m) for m in BODIES if not m.tie_embeddings),
            "seed": Grid([0, 1, 2]),
        },
        about=f"2 bodies (1 and 2 blocks, d_model 8) x V {{{', '.join(map(str, BODIES_VOCABS))}}}"
        f" untied x 3 seeds ({BODIES_STEPS:,} steps, 18 trials)",
    ),
    "bodies-tied": Sweep(
        base=replace(
            protocol(BODIES_STEPS),
            model=ModelConfig.preset("cpu-xxs"),
            data=DataConfig(vocab_size=256),
        ),  # fmt: skip
        space={
            "model": Grid(asdict(m) for m in BODIES if m.tie_embeddings),
            "seed": Grid([0, 1, 2]),
        },
        about=f"the bodies preset tied, at V = 256 ({BODIES_STEPS:,} steps, 6 trials)",
    ),
    "vocab-smoke": Sweep(
        base=replace(protocol(300), eval_every=50, knee_multiple=0.5),
        space={
            "model": {
                **asdict(ModelConfig.preset("cpu-xxs")),
                "tie_embeddings": Grid([False, True]),
            },
            "data": {"vocab_size": Grid([16, 2])},
        },
        about="4 tiny trials of the vocab preset's axes for tests, under a minute",
    ),
    # Morris et al. compare fp32 with bf16 training. Three ways at the same steps: fp32; mixed
    # (bf16 compute over fp32 master weights and moments: a parameter still holds 32 bits); pure
    # bf16 (a parameter holds 16 bits, and small updates round away: each evaluation reports
    # the share of entries the last step left unchanged, memtune.core.precision)
    "precision": Sweep(
        base=replace(protocol(PRECISION_STEPS), model=ModelConfig.preset("cpu-xxs")),
        space={"optim": {"dtype": Grid(["bf16", "mixed", "fp32"])}, "seed": Grid([0, 1, 2])},
        about=f"fp32 vs mixed vs pure bf16 on cpu-xxs at V=2, 3 seeds ({PRECISION_STEPS:,} "
        "steps, 9 trials)",
    ),
    # Morris et al.'s Table 1 on a GPU cluster: 1-8 layers x d_model 32-256, V = 2048, T = 64,
    # tied (their parameter counts are GPT-2's with a tied embedding: 80,352 for 1 x 32), fp32
    # and bf16, N at 2x each model's knee at their 3.6 bits/param. About 0.3 s a step on one
    # CPU core for 1 x 32 (docs/measurement.md): GPU work.
    "morris": Sweep(
        base=replace(
            protocol(MORRIS_STEPS),
            data=DataConfig(vocab_size=2048),
            eval_every=5000,
            checkpoint_every=20_000,
            knee_bpp=3.6,
        ),  # fmt: skip
        space={
            "model": Grid(asdict(m) for m in MORRIS_MODELS),
            "optim": {"dtype": Grid(["fp32", "bf16"])},
        },
        about="Morris et al.'s Table 1: 16 tied GPT-2s at V=2048, fp32 and bf16 (GPU cluster)",
    ),
    # The seed's models on a GPU cluster, under the same protocol and verdicts, N placed around
    # each model's knee (at Morris et al.'s 3.6 bits/param) instead of a grid from 16 to 2^19
    # sequences; lr is swept, capacity takes the best.
    "paper": Sweep(
        base=replace(
            protocol(1_000_000),
            data=DataConfig(n_seqs=64),
            optim=replace(
                protocol(1_000_000).optim, batch_size=1024, lr_scale=0.3, warmup_steps=1000
            ),
            eval_every=5000,  # an evaluation reads all N (up to ~1.4M sequences for small)
            checkpoint_every=20_000,
            knee_multiple=1.0,
            knee_bpp=3.6,
        ),  # fmt: skip
        space={
            "model": models("nano", "micro", "mini", "small"),
            "knee_multiple": Grid([0.5, 1.0, 2.0, 4.0]),
            "optim": {"lr_scale": Grid([0.15, 0.3, 0.6])},
            "seed": Grid([0, 1, 2]),
        },
        about="the seed's models on a GPU cluster (144 trials)",
    ),
}


# Every preset is the protocol at a budget: --set max_steps (or a model with its own budget)
# re-derives the decay, hold, judging window, eval interval and patience from it.
PRESETS = {
    k: p if p.derive else replace(p, derive=follow_budget(protocol, p.base))
    for k, p in PRESETS.items()
}


def main(argv: list[str] | None = None) -> int:
    return run_sweep("capacity", PRESETS, argv)


if __name__ == "__main__":
    run_cli(main, sys.argv[1:])
