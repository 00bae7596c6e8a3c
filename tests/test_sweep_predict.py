"""The predict sweep for real: Ray Tune on loopback, labels in checkpoints, the analysis."""

import json

import pandas as pd
import pytest
from conftest import run_py

pytestmark = pytest.mark.slow
EXPERIMENT = "predict"  # the smoke fixture's sweep


def test_every_trial_stores_its_labels_in_the_experiment(smoke):
    path, _, _ = smoke
    trials = sorted(p for p in path.iterdir() if p.is_dir() and p.name.startswith("predict_"))
    assert len(trials) == 3
    for t in trials:
        (ckpt,) = t.glob("checkpoint_*")
        labels = pd.read_parquet(ckpt / "labels.parquet")
        corpus = pd.read_parquet(ckpt / "corpus.parquet")
        assert len(corpus) == 192 and sorted(labels["step"].unique()) == [150, 300]
        assert len(labels) == 2 * 192
        assert (labels["extractable"] == (labels["mem_score"] == 1.0)).all()


def test_sweep_prints_the_table_and_writes_the_report(smoke):
    path, out, _ = smoke
    for word in ["positive rate", "logistic", "gradient_boosting", "baseline", "AUPRC"]:
        assert word in out
    out_dir = path / "analysis"
    metrics = pd.read_csv(out_dir / "metrics.csv")
    assert list(metrics["predictor"]) == ["logistic", "gradient_boosting", "count_only", "baseline"]
    assert metrics[["auroc", "auprc"]].apply(lambda c: c.between(0, 1)).all().all()
    dataset = pd.read_parquet(out_dir / "dataset.parquet")
    assert len(dataset) == 192 and dataset["label"].any() and not dataset["label"].all()
    for name in ["pr_curve.png", "roc_curve.png", "importance.png", "when_memorized.png"]:
        assert (out_dir / name).stat().st_size > 10_000
    assert "| predictor |" in (out_dir / "metrics.md").read_text()


def test_analysis_of_the_stored_dataset_agrees(smoke, tmp_path):
    path, _, _ = smoke
    first = json.loads((path / "analysis" / "summary.json").read_text())
    proc = run_py("-m", "analysis.predict", str(path / "analysis" / "dataset.parquet"),
                  "--out", str(tmp_path / "again"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    assert again["metrics"] == first["metrics"]
    assert again["positive_rate"] == first["positive_rate"]
