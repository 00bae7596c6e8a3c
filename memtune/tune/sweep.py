"""Run a memtune experiment as a Ray Tune sweep: shared flags, local or cluster Ray, resume.

A sweep script declares its presets (``memtune.tune.grid``: a base config and the grid axes over
it) and calls ``run_sweep`` with its experiment's name; the registry (``memtune.experiments``)
supplies the trainable and the analysis module, and everything else lives here, so every
experiment reads and behaves the same:

    python sweeps/capacity.py --preset smoke
    python sweeps/capacity.py --dry-run                                       # the plan, no Ray
    python sweeps/capacity.py --address auto --storage-path /shared/memtune   # on a cluster
    python sweeps/capacity.py --resume --name capacity_default_20261122-061500
    python sweeps/capacity.py --set seed=[0,1] --set optim.lr_scale=0.3      # overrides
    python sweeps/capacity.py --extend --name capacity_default_20261122-061500 --set seed=[0,1]

``run_sweep`` goes in named steps: parse the flags, plan the trials (the preset with ``--set``,
``memtune.tune.overrides``; an extension's points left, ``plan_extension``), check them (every
config validated before Ray starts; ``--dry-run`` prints the plan, ``memtune.tune.plan``, and
stops here), run them on Tune, analyse. ``--extend`` grows an experiment by the grid points it
has not finished, as a new experiment linked to it (``memtune.core.store``); both are recorded
in the experiment's ``memtune.json``. Without ``--address`` (and outside ``ray job submit``) a
local Ray starts on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Importing this module ran memtune/__init__.py, which keeps a local Ray on 127.0.0.1
# (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) before any `import ray`.
from memtune.core.cli import ArgumentParser, UsageError
from memtune.core.compiler import cxx_compiler, cxx_name
from memtune.core.store import (
    ENDED_NORMALLY,
    alias_moved_modules,
    canonical,
    code_version,
    flatten,
    lineage,
    link,
    protocol_differences,
    read_meta,
    sibling,
    write_meta,
)
from memtune.experiments import get
from memtune.tune.grid import (  # noqa: F401  (Grid, Sweep, asdict, expand: the sweep scripts' API)
    Grid,
    Sweep,
    asdict,
    axis_paths,
    expand,
    follow_budget,
    label,
    merged,
    point_label,
    shown_paths,
)
from memtune.tune.overrides import class_at, decided_by, settable_paths, with_overrides

DEFAULT_STORAGE = "results"


def to_param_space(sweep: Sweep) -> dict[str, Any]:
    """The Tune param_space: the merged config with each Grid turned into tune.grid_search."""
    from ray import tune

    def convert(v: Any) -> Any:
        if isinstance(v, Grid):
            return tune.grid_search(list(v.values))
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    return convert(merged(sweep))


def _label(value: Any) -> str:
    """A grid value as text (``memtune.tune.grid.label``). Kept under this name because Tune
    pickles each experiment's trial namer into its store, and the namers of stores written
    before the presets moved to ``memtune.tune.grid`` refer to ``memtune.tune.sweep._label``:
    without it those stores (every experiment run until then) could not be read back."""
    return label(value)


def trial_namer(name: str, sweep: Sweep) -> Callable[[Any], str]:
    """Short trial names from the grid values, e.g. capacity_1a2b3_00004_cpu-s_n_seqs=128_seed=1.

    Tune's default puts every config value in the folder name, which for a model dict runs past
    200 characters; these names also label the runs in TensorBoard.
    """
    paths = shown_paths(sweep)

    def namer(trial: Any) -> str:
        return "_".join(x for x in [name, trial.trial_id, point_label(trial.config, paths)] if x)

    return namer


def swept_columns(sweep: Sweep) -> dict[str, str]:
    """Config paths of the grid axes (and the shown and searched keys) -> a short column name;
    an axis of dicts with a ``name`` (a model) shows that name."""
    space = merged(sweep)
    columns = {}
    for path in shown_paths(sweep):
        v: Any = space
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        grid = v.values if isinstance(v, Grid) else (v,)
        named = all(isinstance(x, dict) and "name" in x for x in grid)
        key = "/".join(path) + ("/name" if named else "")
        columns[key] = path[-1]
    return columns


def sweep_parser(name: str, presets: dict[str, Sweep], default: str = "default") -> ArgumentParser:
    """The flags every sweep shares."""
    about = "; ".join(f"{k}: {p.about}" for k, p in presets.items() if p.about)
    base = presets[default].base if default in presets else next(iter(presets.values())).base
    parser = ArgumentParser(
        prog=f"sweeps/{name}.py",
        description=f"Run the {name} sweep. {about}",
        epilog=_set_help(base),
    )
    parser.add_argument(
        "--preset", default=None, choices=list(presets), help=f"grid size (default: {default})"
    )
    parser.set_defaults(default_preset=default)
    parser.add_argument("--address", default=None, help="Ray cluster to join (e.g. auto)")
    parser.add_argument(
        "--storage-path",
        default=DEFAULT_STORAGE,
        help="experiment store: a local or shared path, or a pyarrow URI (s3://, gs://)",
    )
    parser.add_argument("--name", default=None, help="experiment name (default: timestamped)")
    parser.add_argument("--resume", action="store_true", help="continue experiment --name")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=None,
        metavar="PATH=VALUE",
        help="override a config field on top of the preset (repeatable): --set "
        "optim.lr_scale=0.3; a list makes or replaces a grid axis: --set seed=[0,1,2]; "
        "see the settable paths below",
    )
    parser.add_argument(
        "--extend",
        action="store_true",
        help="grow experiment --name (or the newest of this sweep) by the grid points of "
        "--preset/--set it has not finished: a new experiment NAME_extK linked to it, "
        "analysed together with it",
    )
    parser.add_argument("--retry-errored", action="store_true", help="with --resume: rerun errors")
    parser.add_argument("--max-concurrent", type=int, default=None, help="trials at once")
    parser.add_argument("--cpus-per-trial", type=float, default=None, help="(default: 1)")
    parser.add_argument(
        "--gpus-per-trial", type=float, default=None, help="fractions share a GPU (default: 0)"
    )
    parser.add_argument(
        "--max-failures", type=int, default=None, help="retries of a crashed trial (default: 1)"
    )
    parser.add_argument("--num-cpus", type=int, default=None, help="local Ray only: CPUs to use")
    parser.add_argument("--no-analysis", action="store_true", help="skip the fit after the sweep")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, print the trials (their varying fields, N, steps, estimated CPU time) "
        "and the expected wall time on --num-cpus (default: this machine's) CPUs, then exit "
        "without starting Ray",
    )
    return parser


def _set_help(base: Any) -> str:
    """--help's list of the config paths --set takes, and the rule for named presets."""
    paths = settable_paths(base.to_dict())
    named = sorted(
        {
            p.rsplit(".", 1)[0]
            for p in paths
            if p.endswith(".name")
            and callable(getattr(class_at(type(base), tuple(p.split("."))[:-1]), "preset", None))
        }
    )
    text = "--set paths: " + ", ".join(paths) + "."
    if named:
        text += (
            f" {', '.join(f'{n}.name' for n in named)} picks a whole named preset "
            f"(--set {named[0]}.name=[A,B] is an axis of those presets)."
        )
    clears = [f"{f} clears {d}" for f, (d, _) in decided_by(type(base)).items()]
    if clears:
        text += f" Setting a field another one decides wins: {', '.join(clears)}."
    return text + (
        " Values use OmegaConf's dot-list grammar (bare words are strings) and are type-checked"
        " against the config; --dry-run shows the trials they give."
    )


def _is_uri(path: str) -> bool:
    return "://" in path


def _storage(path: str) -> str:
    return path if _is_uri(path) else str(Path(path).expanduser().resolve())


def _find_experiment(storage: str, name: str | None, prefix: str) -> str:
    """The experiment to resume: --name, or the newest one of this sweep in local storage."""
    if name:
        return f"{storage.rstrip('/')}/{name}"
    if _is_uri(storage):
        raise UsageError("--resume with a URI storage path needs --name")
    root = Path(storage)
    runs = sorted(
        (p for p in root.glob(f"{prefix}_*") if (p / "tuner.pkl").exists()),
        key=lambda p: p.stat().st_mtime,
    )
    if not runs:
        raise UsageError(f"--resume: no {prefix} experiment under {root}; pass --name")
    return str(runs[-1])


# What a resumed experiment keeps: Tuner.restore reuses the pickled TuneConfig and RunConfig,
# the searcher's state and every trial's resources and retry budget, and offers no way to change
# them, so these flags would be silently ignored on --resume; they are refused instead.
FIXED_ON_RESUME = {
    "preset": "--preset",
    "max_concurrent": "--max-concurrent",
    "max_failures": "--max-failures",
    "cpus_per_trial": "--cpus-per-trial",
    "gpus_per_trial": "--gpus-per-trial",
    "overrides": "--set",
    "extend": "--extend",
}
NOT_GIVEN = (None, False)
DEFAULTS = {"max_failures": 1, "cpus_per_trial": 1.0, "gpus_per_trial": 0.0}


def _check_args(args: Any) -> None:
    if args.resume:
        given = [f for key, f in FIXED_ON_RESUME.items() if getattr(args, key) not in NOT_GIVEN]
        if given:
            raise UsageError(
                f"--resume continues the experiment with the settings it was started with (Tune's "
                f"Tuner.restore reuses them): {', '.join(given)} cannot change; drop "
                f"{'it' if len(given) == 1 else 'them'}, or start a new experiment"
            )
    for key, value in DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.preset is None:
        args.preset = args.default_preset
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
    if args.cpus_per_trial <= 0:
        raise UsageError(f"--cpus-per-trial must be > 0, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0:
        raise UsageError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")
    if args.max_failures < 0:
        raise UsageError(f"--max-failures must be >= 0, got {args.max_failures}")
    if args.retry_errored and not args.resume:
        raise UsageError("--retry-errored goes with --resume")
    if args.name is not None and (not args.name or "/" in args.name):
        raise UsageError(f"--name must be a non-empty folder name without '/', got {args.name!r}")


def _init_ray(args: Any) -> None:
    import ray

    if args.address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=args.address)  # a cluster, or the one `ray job submit` started us in
    else:
        ray.init(num_cpus=args.num_cpus, include_dashboard=False)


def _cpu_slots(cpus_per_trial: float) -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_trial))


def _utilization(results: Any, wall: float) -> str:
    """Share of the cluster's CPU time spent inside trials: sum of trial seconds / (wall x CPUs)."""
    import ray

    cpus = ray.cluster_resources().get("CPU", 1)
    busy = sum(r.metrics.get("time_total_s", 0.0) for r in results if r.metrics)
    share = busy / (wall * cpus) if wall > 0 else float("nan")
    return (
        f"[memtune] CPU time in trials: {busy:.0f} s of {wall:.0f} s x {cpus:g} CPUs "
        f"= {share:.1%} (sum of trial seconds / (wall seconds x CPUs))"
    )


def describe(meta: dict[str, Any]) -> str:
    """One line: the preset, overrides and parents an experiment was started with."""
    text = f"preset {meta.get('preset', '?')}"
    if meta.get("overrides"):
        text += ", " + " ".join(f"--set {o}" for o in meta["overrides"])
    if meta.get("parents"):
        text += ", extends " + ", ".join(p["name"] for p in meta["parents"])
    return text


def _extensions(storage: str, root: str) -> dict[int, str]:
    """k -> path of each folder ROOT_extK beside ROOT (local or at a URI)."""
    from pyarrow import fs as pafs

    from memtune.core.store import filesystem

    fs, base = filesystem(storage.rstrip("/"))
    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    found = {}
    for info in infos:
        folder = info.path.rstrip("/").rsplit("/", 1)[-1]
        m = re.fullmatch(rf"{re.escape(root)}_ext(\d+)", folder)
        if m and info.type == pafs.FileType.Directory:
            found[int(m.group(1))] = f"{storage.rstrip('/')}/{folder}"
    return found


def _root(path: str) -> str:
    return re.sub(r"_ext\d+$", "", path.rstrip("/").rsplit("/", 1)[-1])


def _extension_name(storage: str, parent: str) -> str:
    root = _root(parent)
    return f"{root}_ext{max(_extensions(storage, root), default=0) + 1}"


def plan_extension(
    experiment: Any, sweep: Sweep, configs: list[dict[str, Any]], storage: str, name: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """The experiment --extend grows, and the grid points it has not finished.

    The experiment is --name (or the newest of this sweep) with its extensions: its newest
    ``NAME_extK``. A point counts as finished when a trial of that lineage with the same whole
    config (``lineage.canonical``: every field but NOT_IDENTITY, after the config class filled
    in the defaults of fields added since) ended normally; errored or unfinished ones run again.
    A grid that differs from it in a field neither sweeps is a different protocol: UsageError
    naming the fields, before Ray starts.

    Returns:
        (path of the experiment grown, the configs still to run).
    """
    from ray.tune import ExperimentAnalysis

    if sweep.search is not None:
        raise UsageError(
            "--extend grows a grid sweep; this preset is a search (its searcher picks the "
            "trials): start a new experiment, and analyse both together (analysis PATH PATH)"
        )
    found = _find_experiment(storage, name, experiment.name)
    extensions = _extensions(storage, _root(found))
    tip = extensions[max(extensions)] if extensions else sibling(found, _root(found))
    alias_moved_modules()
    cls = experiment.config
    old, axes, finished = [], set(), set()
    for uri in lineage(tip):
        try:
            trials = ExperimentAnalysis(uri).trials
        except Exception as e:  # no experiment there, or a corrupted one
            first = (str(e).strip().splitlines() or [""])[0]
            raise UsageError(f"--extend: cannot read experiment {uri}: {first}") from None
        axes |= set(read_meta(uri).get("axes", []))
        for t in trials:
            config = cls.from_dict(t.config).to_dict()
            old.append(flatten(config))
            if t.status == ENDED_NORMALLY:
                finished.add(canonical(config))
    label = tip.rsplit("/", 1)[-1]
    differ = protocol_differences(
        {label: old, "this grid": [flatten(c) for c in configs]},
        {label: axes, "this grid": set(axis_paths(sweep))},
        sweep.given,
    )
    if differ:
        raise UsageError(
            f"--extend: this grid differs from {label} in {', '.join(differ)}: a different "
            "protocol; start a new experiment (a field meant to vary takes two or more values "
            "in one experiment: --set FIELD=[OLD,NEW])"
        )
    todo = [c for c in configs if canonical(c) not in finished]
    print(
        f"[memtune] --extend {label}: {len(configs) - len(todo)} of {len(configs)} grid points "
        f"already finished there; {len(todo)} to run",
        flush=True,
    )
    return tip, todo


@dataclass(frozen=True)
class Plan:
    """What a sweep will run, decided before Ray starts."""

    experiment: Any  # memtune.core.experiment.Experiment
    args: Any  # the parsed flags
    storage: str  # the experiment store (a local path or a URI)
    path: str  # the experiment folder
    sweep: Sweep  # the preset with --set applied (on --resume: the preset it started with)
    configs: list[dict[str, Any]]  # the trials (grid points) to run; [] on --resume
    meta: dict[str, Any]  # memtune.json: what was run
    parent: str | None = None  # --extend: the experiment grown


def parse(name: str, presets: dict[str, Sweep], argv: list[str] | None) -> Any:
    """Step 1: the shared flags, checked against each other."""
    args = sweep_parser(name, presets).parse_args(argv)
    _check_args(args)
    return args


def eager_without_compiler(configs: list[dict[str, Any]], args: Any) -> list[dict[str, Any]]:
    """The trials, with ``optim.compile`` turned off when this run is local and this machine has
    no C++ compiler for torch.compile's CPU kernels (``memtune.core.compiler``): the trials then
    train eager, a note says why, and their stored configs say what ran. A cluster's workers are
    other machines, so with --address the configs stay as given."""

    def wants(c: dict[str, Any]) -> bool:
        return isinstance(c.get("optim"), dict) and bool(c["optim"].get("compile"))

    if args.address or not any(map(wants, configs)) or cxx_compiler() is not None:
        return configs
    print(
        f"[memtune] optim.compile: no C++ compiler on this machine ({cxx_name()} is not on PATH;"
        " torch.compile builds its CPU kernels with one), so the trials train eager; install "
        "one (or set CXX) to compile them",
        flush=True,
    )
    return [{**c, "optim": {**c["optim"], "compile": False}} if wants(c) else c for c in configs]


def plan(name: str, presets: dict[str, Sweep], args: Any) -> Plan | None:
    """Step 2: the trials to run, validated (None: an extension with nothing left to run)."""
    experiment = get(name)
    storage = _storage(args.storage_path)
    if args.resume:
        # Tuner.restore runs what the experiment started with; memtune.json says what that was
        path = _find_experiment(storage, args.name, name)
        meta = read_meta(path)
        sweep = presets.get(meta.get("preset", args.preset), presets[args.preset])
        if meta:
            print(f"[memtune] resuming {path}: {describe(meta)}", flush=True)
        return Plan(experiment, args, storage, path, sweep, [], meta)
    sweep = with_overrides(presets[args.preset], args.overrides)
    for note in sweep.notes:
        print(f"[memtune] {note}", flush=True)
    configs = eager_without_compiler(expand(sweep), args)
    parent = None
    if args.extend:
        parent, configs = plan_extension(experiment, sweep, configs, storage, args.name)
        if not configs:
            return None
        exp_name = _extension_name(storage, parent)
    else:
        exp_name = args.name or f"{name}_{args.preset}_{time.strftime('%Y%m%d-%H%M%S')}"
    meta = {
        "experiment": name,
        "preset": args.preset,
        "overrides": args.overrides or [],
        "axes": axis_paths(sweep),
        "n_points": len(configs),
        "parents": [link(parent)] if parent else [],
        "commit": code_version(),
    }
    path = f"{storage.rstrip('/')}/{exp_name}"
    return Plan(experiment, args, storage, path, sweep, configs, meta, parent)


def check(p: Plan) -> None:
    """Step 3: the store can take the experiment (nothing is written yet)."""
    storage, path = p.storage, p.path
    if not _is_uri(storage) and Path(storage).exists() and not Path(storage).is_dir():
        raise UsageError(f"--storage-path {storage} is not a directory")
    if not p.args.resume and not _is_uri(storage) and Path(path).exists():
        raise UsageError(f"experiment {path} exists; pick another --name or pass --resume")
    if p.args.resume:
        from ray import tune

        if not tune.Tuner.can_restore(path):
            raise UsageError(f"--resume: {path} holds no Tune experiment to restore")


def _tuner(p: Plan, trainable: Callable[[dict[str, Any]], None] | None) -> Any:
    """The Tuner of a new experiment (writing its memtune.json), or of the one resumed."""
    from ray import tune

    from memtune.tune.trainable import make_trainable

    args, sweep, configs, name = p.args, p.sweep, p.configs, p.experiment.name
    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    wrapped = tune.with_resources(trainable or make_trainable(p.experiment, p.path), resources)
    if args.resume:
        alias_moved_modules()  # stores written before the package layout name old modules
        return tune.Tuner.restore(
            p.path, wrapped, resume_unfinished=True, resume_errored=args.retry_errored
        )
    from memtune.tune.tensorboard import SweepTBXLogger, progress_reporter

    columns = swept_columns(sweep)
    experiment = p.experiment
    run_config = tune.RunConfig(
        name=Path(p.path).name,
        storage_path=p.storage,
        callbacks=[SweepTBXLogger(columns, experiment.headline)],
        progress_reporter=progress_reporter(columns, experiment.headline, experiment.x_axis),
        failure_config=tune.FailureConfig(max_failures=args.max_failures),
        # keep 2: with 1, a trial can delete the checkpoint that the last experiment snapshot
        # names before the next snapshot lands, and a driver killed in between cannot
        # restore it (seen in tests/test_fault_tolerance.py)
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
    )
    namer = trial_namer(name, sweep)
    common = {
        "reuse_actors": True,  # measured: 0.2 s per trial instead of 1.3 s
        "trial_name_creator": namer,
        "trial_dirname_creator": namer,
    }
    pointwise = sweep.keep is not None or sweep.derive is not None
    if p.parent is not None or (pointwise and sweep.search is None):
        # Tune's grid crosses every axis; the points left (or kept, or with fields derived per
        # point) are any list of configs, so they go to Tune's own BasicVariantGenerator as its
        # points_to_evaluate, one sample each, in order, over a param_space without
        # grid_search (public API, ray.tune.search)
        from ray.tune.search import BasicVariantGenerator

        print(f"[memtune] {name}/{args.preset}: {len(configs)} trials -> {p.path}", flush=True)
        tune_config = tune.TuneConfig(
            search_alg=BasicVariantGenerator(points_to_evaluate=list(configs)),
            num_samples=len(configs),
            max_concurrent_trials=args.max_concurrent,
            **common,
        )
        param_space = configs[0]
    elif sweep.search is None:
        print(f"[memtune] {name}/{args.preset}: {len(configs)} trials -> {p.path}", flush=True)
        tune_config = tune.TuneConfig(max_concurrent_trials=args.max_concurrent, **common)
        param_space = to_param_space(sweep)
    else:
        slots = args.max_concurrent or _cpu_slots(args.cpus_per_trial)
        print(
            f"[memtune] {name}/{args.preset}: {len(configs)} searches, {slots} trials at "
            f"once -> {p.path}",
            flush=True,
        )
        # the searcher limits concurrency itself, so no ConcurrencyLimiter around it
        tune_config = tune.TuneConfig(
            search_alg=sweep.search(configs, slots), num_samples=-1, **common
        )
        param_space = None
    tuner = tune.Tuner(
        wrapped, param_space=param_space, tune_config=tune_config, run_config=run_config
    )
    write_meta(p.path, p.meta)  # what was run, for the analysis and a later --resume
    return tuner


def run(p: Plan, trainable: Callable[[dict[str, Any]], None] | None = None) -> tuple[Any, str]:
    """Step 4: start (or join) Ray and run the trials on Tune; (results, experiment path)."""
    if not p.args.resume and not _is_uri(p.storage):
        Path(p.storage).mkdir(parents=True, exist_ok=True)
    _init_ray(p.args)
    t0 = time.perf_counter()
    tuner = _tuner(p, trainable)
    if not p.args.resume:  # a resumed run has done part of its work: no whole-sweep estimate
        import ray

        from memtune.tune.plan import start_note

        cpus = ray.cluster_resources().get("CPU", 1)
        print(f"[memtune] {start_note(p.sweep, p.configs, cpus, p.args)}", flush=True)
    # the console reporter that takes columns (RunConfig.progress_reporter) is the one Tune
    # uses without its new output engine, which would print the model dict cut off instead
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    results = tuner.fit()
    wall = time.perf_counter() - t0
    # Tune gives a URI store's experiment as a path without its scheme (bucket/prefix/name):
    # keep the URI, so that the analysis and the printed commands find it
    where = p.path if _is_uri(p.path) else results.experiment_path
    print(f"\n[memtune] {len(results)} trials in {wall:.0f} s; experiment: {where}")
    if p.sweep.search is not None and not p.args.resume:  # a resumed run spans sessions
        print(_utilization(results, wall), flush=True)
    print(f"[memtune] TensorBoard: tensorboard --logdir {where}")
    return results, where


def analyse(p: Plan, results: Any, where: str) -> int:
    """Step 5: name the errored trials, and analyse the rest; the exit code."""
    errored = [r for r in results if r.error is not None]
    for r in errored:
        cause = getattr(r.error, "cause", None) or r.error  # unwrap RayTaskError
        first = (str(cause).strip().splitlines() or [""])[0]
        print(f"[memtune] ERRORED {Path(r.path).name}: {type(cause).__name__}: {first}")
        print(f"[memtune]   traceback: {r.path}/error.txt")
    code = 1 if errored else 0
    if not p.args.no_analysis and len(errored) < len(results):
        module = importlib.import_module(p.experiment.analysis_module)
        code = max(code, module.analyze_experiment(where))
    return code


def run_sweep(
    name: str,
    presets: dict[str, Sweep],
    argv: list[str] | None = None,
    trainable: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Parse the shared flags, plan and check the trials, run (or resume) them on Ray Tune, then
    analyse; with --dry-run, print the plan instead of running it.

    ``name`` is the registered experiment (``memtune.experiments.get``): its trainable runs the
    trials and its analysis module's ``analyze_experiment`` runs on the finished experiment. The
    analysis is imported only after the sweep: pandas, scipy and matplotlib would otherwise add
    seconds before the first trial starts. A preset with a ``search`` factory runs that Searcher
    over its grid points instead (one group each), as many trials at once as --max-concurrent
    or the cluster's CPUs allow. ``trainable`` replaces the experiment's own (a wrapper that
    injects faults, say); trial names and the analysis stay the experiment's.
    Returns the exit code: 0 when every trial finished (and for a dry run), 1 when some errored
    (they are named, and the analysis still runs on the rest).
    """
    args = parse(name, presets, argv)
    p = plan(name, presets, args)
    if p is None:
        return 0  # --extend: every point finished already
    check(p)
    if args.dry_run and args.resume:
        print(f"[memtune] dry run: --resume would restore {p.path} (nothing started)")
        return 0
    if args.dry_run:
        from memtune.tune.plan import show_plan

        print(show_plan(p.sweep, p.configs, p.path, args), flush=True)
        return 0
    results, where = run(p, trainable)
    return analyse(p, results, where)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run a sweep script, e.g. python sweeps/capacity.py")
