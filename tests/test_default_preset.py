"""The default preset packs both CPUs: each model runs the protocol at its own step budget."""

import json
import textwrap

import pandas as pd
import pytest
from conftest import run_py
from test_vocab import load_sweep

from memtune.tune.sweep import expand, swept_columns, with_overrides

PROTOCOL_OPTIM = {
    "schedule": "wsd", "min_lr_frac": 0.05, "batch_size": 128, "lr_scale": 0.6,
    "warmup_steps": 100, "weight_decay": 0.01, "grad_clip": 1.0, "dtype": "fp32",
}  # fmt: skip
PROTOCOL = {
    "saturation_fraction": 0.25, "saturation_tol": 0.02, "knee_multiple": 2.0, "knee_bpp": 2.0,
    "target_efficiency": 0.95, "target_excess_bits": 0.01,
}  # fmt: skip
BY_BUDGET = {
    "optim": {
        48_000: {"decay_steps": 8_000, "hold_steps": 16_000, "stall_steps": 6_000},
        72_000: {"decay_steps": 12_000, "hold_steps": 24_000, "stall_steps": 9_000},
    },
    "run": {
        48_000: {"eval_every": 333, "patience": 48_000, "saturation_window": 12_000},
        72_000: {"eval_every": 500, "patience": 72_000, "saturation_window": 18_000},
    },
}


def test_default_pairs_each_model_with_its_own_protocol():
    sweep = load_sweep()
    configs = expand(sweep.PRESETS["default"])
    steps = {c["model"]["name"]: c["max_steps"] for c in configs}
    assert steps == {"cpu-xs": 48_000, "cpu-xxs": 72_000}  # a cpu-xxs step costs ~0.66
    # the protocol README command 1 runs, written out (not rebuilt by the function under test):
    # the peak lr for half the steps, a cosine to 5% over the next sixth, a hold for the last
    # third, judged over the last quarter at a 2% rise, N at 2x the knee
    for c in configs:
        steps = c["max_steps"]
        assert {k: c["optim"][k] for k in PROTOCOL_OPTIM} == PROTOCOL_OPTIM
        assert {k: c[k] for k in PROTOCOL} == PROTOCOL
        assert {k: c["optim"][k] for k in BY_BUDGET["optim"][steps]} == BY_BUDGET["optim"][steps]
        assert {k: c[k] for k in BY_BUDGET["run"][steps]} == BY_BUDGET["run"][steps]
    # the schedule's fields stay out of names and the progress table; only the budget shows
    assert swept_columns(sweep.PRESETS["default"]) == {
        "model/name": "model",
        "max_steps": "max_steps",
    }
    # --set crosses with the pairs, it does not undo them
    grown = expand(with_overrides(sweep.PRESETS["default"], ["seed=[0,1]"]))
    assert sorted((c["model"]["name"], c["max_steps"], c["seed"]) for c in grown) == [
        ("cpu-xs", 48_000, 0), ("cpu-xs", 48_000, 1), ("cpu-xxs", 72_000, 0), ("cpu-xxs", 72_000, 1)
    ]  # fmt: skip


PAIRED = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, "sweeps")
    import capacity
    from memtune.core.cli import run_cli
    from memtune.core.config import replace
    from memtune.experiments.capacity.config import DataConfig
    from memtune.tune.sweep import Sweep, follow_budget, run_sweep

    base = replace(capacity.protocol(300), data=DataConfig(n_seqs=16), knee_multiple=0.0,
                   target_efficiency=1.0, target_excess_bits=0.0)
    steps = {"cpu-xs": 300, "cpu-xxs": 450}
    paired = Sweep(base=base, space={"model": capacity.models(*steps)}, shown=("max_steps",),
                   derive=follow_budget(capacity.protocol, base,
                                        lambda c: steps[c["model"]["name"]]))
    run_cli(lambda argv: run_sweep("capacity", {"default": paired}, argv), sys.argv[1:])
    """
)


@pytest.mark.slow
def test_paired_budgets_run_only_the_kept_points_through_tune(tmp_path):
    proc = run_py("-c", PAIRED, "--storage-path", str(tmp_path), "--name", "paired",
                  "--num-cpus", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = pd.read_parquet(tmp_path / "paired" / "analysis" / "table.parquet")
    t = table.set_index("model.name")
    assert t["max_steps"].to_dict() == {"cpu-xs": 300, "cpu-xxs": 450}
    assert t.loc["cpu-xxs", "step"] > 300  # it trained past the other model's budget
    summary = json.loads((tmp_path / "paired" / "analysis" / "summary.json").read_text())
    assert summary["n_trials"] == 2
