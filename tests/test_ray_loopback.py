"""A local Ray started the way memtune starts it listens on loopback only."""

import importlib
import os
import re
import subprocess

import pytest

pytestmark = pytest.mark.slow


def _descendants(root: int) -> set[int]:
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parent[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in found]
        found.update(kids)
        frontier.extend(kids)
    return found


def test_local_ray_binds_only_to_127_0_0_1():
    importlib.import_module("memtune.tune.sweep")  # sets RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 first
    ray = importlib.import_module("ray")

    ctx = ray.init(num_cpus=1, include_dashboard=False)
    try:
        assert ctx.address_info["node_ip_address"] == "127.0.0.1"
        assert ctx.address_info["gcs_address"].startswith("127.0.0.1:")
        ours = _descendants(os.getpid())
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        sockets = []
        for line in out.splitlines():
            pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
            if pids & ours:
                sockets.append(line.split()[3])  # local address:port
        assert len(sockets) >= 2, out  # at least the GCS and the raylet
        bad = [
            s for s in sockets if not s.startswith(("127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:"))
        ]
        assert not bad, f"Ray listens beyond loopback: {bad}"
    finally:
        ray.shutdown()


def test_any_memtune_entry_point_keeps_ray_on_loopback_without_the_variable_set():
    """memtune/__init__ sets the variable, even where a module imports ray before memtune.tune."""
    import sys

    from conftest import ROOT

    env = {k: v for k, v in os.environ.items() if k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env["PYTHONPATH"] = str(ROOT)
    code = (
        "import memtune.tune.searchers, ray\n"  # searchers imports ray first thing
        "ctx = ray.init(num_cpus=1, include_dashboard=False)\n"
        "print('NODE', ctx.address_info['node_ip_address'], ctx.address_info['gcs_address'])\n"
        "ray.shutdown()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("NODE"))
    _, node, gcs = line.split()
    assert node == "127.0.0.1" and gcs.startswith("127.0.0.1:"), line
