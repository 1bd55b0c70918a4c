"""Stage timings for `benchmarks/profile_search.py`, off unless the environment variable ENV names a file.

`@timed("module:Function")` marks a function whose calls the profile reports; `with timing("name"):` marks a
block (a third-party call, an import). With ENV set, every Python process of a search (the driver, Tune trial
actors, Ray Train workers: they inherit the search's environment) appends one JSON line per call to that file:
pid, name, start and end (epoch seconds), CPU seconds of the calling thread, the process's command and the trial
it worked for (`tag`, "c001-seed42", from the first trial config a timed call received). Each process also
records its own start ("interpreter start") when it first imports this module. Without ENV, `timed` returns the
function itself and `timing` does nothing: the production path pays nothing.

The names are the profile's (profile_search.trial_stages reads them): a function keeps its name here when it
moves or is renamed, so the report does not lose a stage silently.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from contextlib import contextmanager

ENV = "SELFRE_STAGE_TIMES"
OUT = os.environ.get(ENV)
_lock = threading.Lock()
_tag: str | None = None  # the trial this process last worked for: every event carries it


def _trial_of(args: tuple) -> str | None:
    """A trial's config among a call's first arguments (run_trial, train_loop_per_worker, train_trial)."""
    for arg in args[:2]:
        if isinstance(arg, dict) and "config_id" in arg and "seed" in arg:
            return f"{arg['config_id']}-seed{arg['seed']}"
    return None


def _command() -> str:
    try:
        with open("/proc/self/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")[:60]
    except OSError:
        return "?"


def emit(name: str, t0: float, t1: float, cpu: float | None = None) -> None:
    """Append one event to ENV's file (atomic per line: O_APPEND, one write)."""
    record = {"pid": os.getpid(), "name": name, "t0": t0, "t1": t1, "title": _command(), "tag": _tag}
    if cpu is not None:
        record["cpu"] = cpu
    line = (json.dumps(record) + "\n").encode()
    with _lock:
        fd = os.open(OUT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


@contextmanager
def timing(name: str):
    """Time a block as one event `name`."""
    if not OUT:
        yield
        return
    t0, c0 = time.time(), time.thread_time()
    try:
        yield
    finally:
        emit(name, t0, time.time(), time.thread_time() - c0)


def timed(name: str):
    """Decorator: time each call of the function as one event `name`; the function itself when ENV is unset."""

    def decorate(fn):
        if not OUT:
            return fn

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            global _tag
            _tag = _trial_of(args) or _tag
            with timing(name):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def _process_start() -> float:
    """This process's start time (Linux /proc), else now."""
    try:
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, ValueError, IndexError):
        return time.time()


if OUT:
    emit("interpreter start", _process_start(), time.time())
