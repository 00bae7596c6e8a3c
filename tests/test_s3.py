"""Stores anywhere: a sweep written to s3://, analysed from its URI, and resumed from it.

The S3 server is moto's, in this process, on 127.0.0.1 and a free port, started and stopped
here. Every process of the test (the sweep, Ray's workers, the analysis) finds it through
AWS_ENDPOINT_URL, with fake credentials and the instance-metadata lookup disabled, so nothing
can reach AWS.
"""

import json
import os
import socket
import time

import pytest
from conftest import ROOT, run_py

pytestmark = pytest.mark.slow

BUCKET = "memtune"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """The URI of an empty bucket on a local S3 server; AWS_* set for every subprocess."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,  # pyarrow, boto3 and Ray's storage all honour it
        "AWS_EC2_METADATA_DISABLED": "true",  # never ask 169.254.169.254 for credentials
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in env.items():
                mp.setenv(k, v)
            import boto3

            boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
            yield f"s3://{BUCKET}"
    finally:
        server.stop()


def _objects(uri: str) -> list[str]:
    from pyarrow import fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    return [i.path for i in fs.get_file_info(pafs.FileSelector(path, recursive=True))]


def _timed(*args, cwd):
    t0 = time.perf_counter()
    proc = run_py(*args, cwd=cwd)
    return proc, time.perf_counter() - t0


def test_capacity_sweep_to_s3_analysis_from_the_uri_and_resume(s3, tmp_path):
    store = f"{s3}/results"
    uri = f"{store}/capacity_s3"
    sweep = str(ROOT / "sweeps" / "capacity.py")
    proc, t_sweep = _timed(sweep, "--preset", "smoke", "--num-cpus", "2", "--storage-path",
                           store, "--name", "capacity_s3", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert f"experiment: {uri}" in proc.stdout and "no capacity fit" in proc.stdout
    objects = _objects(uri)
    assert any(o.endswith("tuner.pkl") for o in objects)
    assert sum(o.endswith("/params.json") for o in objects) == 4
    assert not (tmp_path / BUCKET).exists()  # nothing went to a local folder named like it
    first = json.loads((tmp_path / "capacity_s3_analysis" / "summary.json").read_text())

    proc, t_analysis = _timed("-m", "analysis.capacity", uri, "--out", str(tmp_path / "again"),
                              cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    # the smoke sweep fits nothing (no converged capacity); each model's figures must match
    assert first["bits_per_param"] is None and again["bits_per_param"] is None
    assert len(first["models"]) == 2 and again["models"] == first["models"]
    assert all(m["capacity_bits"] > 0 for m in first["models"]) and again["complete"]

    proc, t_resume = _timed(sweep, "--resume", "--name", "capacity_s3", "--storage-path", store,
                            "--num-cpus", "2", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "4 trials in" in proc.stdout and f"experiment: {uri}" in proc.stdout
    print(f"\ns3 round trip: sweep {t_sweep:.0f} s, analysis {t_analysis:.0f} s, "
          f"resume {t_resume:.0f} s")  # fmt: skip


def test_zipf_records_go_to_s3_and_the_analysis_reads_them_from_the_uri(s3, tmp_path):
    store = f"{s3}/results"
    uri = f"{store}/zipf_s3"
    proc = run_py(str(ROOT / "sweeps" / "zipf.py"), "--preset", "smoke", "--num-cpus", "2",
                  "--storage-path", store, "--name", "zipf_s3", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    records = [o for o in _objects(uri) if o.endswith("/zipf_records.parquet")]
    assert len(records) == 3  # every trial's records, written straight into the bucket
    assert "no zipf_records" not in proc.stderr
    fits = (tmp_path / "zipf_s3_analysis" / "fits.csv").read_text()
    assert fits.count("\n") >= 2
