"""Stage timer for every Python process of a search (driver, Tune trial actors, Train controllers and workers).

`tune/profile_search.py` puts this folder first on PYTHONPATH (Ray's processes inherit it) and sets
SELFRE_PROF_OUT; Python then imports this module at start-up in every process. It wraps the functions named in
PATCHES when their module is imported and times the imports in TIMED_IMPORTS, appending one JSON line per call
(pid, name, start, end, CPU seconds of the calling thread; of the process for imports) to $SELFRE_PROF_OUT.
Without SELFRE_PROF_OUT it does nothing. Names are Ray 2.60's and selfre's: a renamed function is simply not
timed (the report shows the stage as missing)."""

import functools
import importlib.abc
import json
import os
import sys
import threading
import time

OUT = os.environ.get("SELFRE_PROF_OUT")
T_START = time.time()
PATCHES = {
    "selfre.search.runner": ["check_data", "open_tracking", "finish", "run_search", "_new_tuner"],
    "selfre.search.resources": ["check_fits"],
    "ray._private.worker": ["init", "shutdown"],
    "selfre.search.trainable": ["run_trial", "warm_preset_cache"],
    "ray.train.v2.api.data_parallel_trainer": ["DataParallelTrainer.fit"],
    "selfre.search.worker": ["train_loop_per_worker", "train_trial", "RayReportHooks._report", "_restore", "_quiet_logs"],
    "selfre.search.in_trial": ["TrialSession._upload"],
    "selfre.data.datasets": ["load_splits"],
    "selfre.model.build": ["build_for_training"],
    "selfre.model.presets": ["resolve_encoder"],
    "selfre.encoding.encode": ["RelationEncoder.encode"],
    "selfre.train.loop": ["_Trainer.__init__", "_Trainer.train_epoch", "_Trainer.evaluate",
                          "_Trainer.write_epoch_checkpoint", "_Trainer.finish", "_Trainer.run", "train"],
    "selfre.train.checkpoint": ["save_model_checkpoint", "save_training_state"],
    "selfre.tracking.child": ["TrialRun.__init__", "TrialRun.on_epoch_end", "TrialRun.log_final", "TrialRun._plots",
                              "TrialRun._probe_figures", "TrialRun.end"],
    "selfre.tracking.search_tracking": ["SearchTracking.open", "SearchTracking.finish"],
    "ray.train.torch.config": ["_setup_torch_process_group", "_TorchBackend.on_start", "_TorchBackend.on_training_start",
                               "_TorchBackend.on_shutdown"],
    "ray.train.v2._internal.execution.worker_group.worker_group": ["WorkerGroup._start", "WorkerGroup.shutdown",
                                                                   "WorkerGroup._create_workers", "WorkerGroup.create"],
    "ray.tune.tuner": ["Tuner.fit"],
    "torch.nn.parallel.distributed": ["DistributedDataParallel.__init__"],
}
TIMED_IMPORTS = {"torch", "transformers", "mlflow", "selfre.train.loop", "ray.train", "ray.tune", "matplotlib.pyplot",
                 "optuna", "ray", "selfre.tracking.child", "selfre.search.worker", "ray.train.torch"}
_lock = threading.Lock()
_TAG = None  # the trial ("c001-seed42") this process last worked for: every event carries it


def _tag_of(args):
    """The trial a call works for: a trial's config (run_trial, train_loop_per_worker, train_trial) or a Train run's name."""
    for a in args[:2]:
        if isinstance(a, dict):
            if "config_id" in a and "seed" in a:
                return f"{a['config_id']}-seed{a['seed']}"
    if args:
        ctx = getattr(args[0], "_train_run_context", None)
        run_config = getattr(ctx, "run_config", None) or getattr(args[0], "run_config", None)
        name = getattr(run_config, "name", None)
        if isinstance(name, str) and "-seed" in name:
            return name.rsplit("-", 1)[0]  # drop the params digest (trainable.run_name)
    return None


def _title():
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")[:60]
    except OSError:
        return "?"


def emit(name, t0, t1, c0=None, c1=None):
    if not OUT:
        return
    rec = {"pid": os.getpid(), "name": name, "t0": t0, "t1": t1, "title": _title(), "tag": _TAG}
    if c0 is not None:
        rec["cpu"] = c1 - c0
    line = json.dumps(rec) + "\n"
    with _lock:
        fd = os.open(OUT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, line.encode())
        os.close(fd)


def _wrap(fn, label):
    @functools.wraps(fn)
    def inner(*a, **k):
        global _TAG
        _TAG = _tag_of(a) or _TAG
        t0, c0 = time.time(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            emit(label, t0, time.time(), c0, time.thread_time())
    inner.__selfre_prof__ = True
    return inner


def _patch(mod):
    for path in PATCHES.get(mod.__name__, ()):
        owner, attr = mod, path
        if "." in path:
            cls, attr = path.split(".")
            owner = getattr(mod, cls, None)
        fn = getattr(owner, attr, None) if owner is not None else None
        if fn is None or getattr(fn, "__selfre_prof__", False):
            continue
        setattr(owner, attr, _wrap(fn, f"{mod.__name__.split('.')[-1]}:{path}"))


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        t0, c0 = time.time(), time.process_time()
        self.inner.exec_module(module)
        if module.__name__ in TIMED_IMPORTS:
            emit(f"import {module.__name__}", t0, time.time(), c0, time.process_time())
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in PATCHES and name not in TIMED_IMPORTS:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def _proc_start():
    try:
        with open("/proc/stat") as f:
            btime = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except Exception:
        return T_START


if OUT:
    sys.meta_path.insert(0, _Finder())
    emit("interpreter start", _proc_start(), T_START)
