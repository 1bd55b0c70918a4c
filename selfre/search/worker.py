"""What runs in each Ray Train worker: the core training loop plus hooks that talk to Ray.

Ray's TorchTrainer has already initialised torch.distributed (gloo on CPU, NCCL on GPU) and set this
process's CUDA device, so the core loop wraps DDP, shards the data and lets rank 0 write files.
Every epoch, every rank calls `ray.train.report` (it is a barrier); rank 0 attaches the epoch
checkpoint the core just wrote, which Ray copies to the run's storage before returning. After the
last epoch the core scores the best-dev weights on test and the hooks report that once more, with
the trial's final model checkpoint and `is_final` set.

Restarts: after a worker crash Ray Train (FailureConfig) starts a new worker group and
`ray.train.get_checkpoint()` returns the newest checkpoint; training resumes from it. If that
checkpoint is the final one (the trial had finished; e.g. Tune restarted it after the search driver
was killed), the final result is reported again and nothing is retrained.

Next to the core's files each checkpoint carries `search_state.json` (the platform's own record:
epoch, running best dev F1, final metrics), so a resumed worker reports the true running best.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import ray.train
from ray.train import Checkpoint

from selfre.config import RunConfig
from selfre.metrics.objective import flat_scores, score
from selfre.search.in_trial import FINAL_DIR_NAME, STATE_FILE  # the checkpoint layout both launchers share
from selfre.search_results import FINAL_KEY, METRIC
from selfre.stage_timer import timed, timing
from selfre.storage.data_dir import local_data_dir

log = logging.getLogger(__name__)


def epoch_dir_name(epoch: int) -> str:
    return f"checkpoint_epoch_{epoch:04d}"


class TrainSession:
    """What a trial's training needs from the process that runs it, here a Ray Train worker: its rank, the
    newest checkpoint of its run, and a report (a barrier across the ranks) carrying rank 0's checkpoint folder.
    (selfre.search.in_trial.TrialSession is the same for a one-worker trial trained in the Tune trial itself.)"""

    def __init__(self):
        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()

    def get_checkpoint(self) -> Checkpoint | None:
        return ray.train.get_checkpoint()

    def report(self, metrics: dict, folder: Path | None = None, dir_name: str | None = None) -> None:
        checkpoint = Checkpoint.from_directory(str(folder)) if folder is not None else None
        ray.train.report(metrics, checkpoint=checkpoint, checkpoint_dir_name=dir_name if checkpoint else None)


class RayReportHooks:
    """Core `TrainHooks` -> the session's report, on every rank. (Duck-typed rather than subclassed so
    that importing this module — which every trial driver does — does not import torch.)"""

    def __init__(self, epochs_total: int, best_so_far: float, resumed_from: int, session=None):
        self.epochs_total = epochs_total
        self.best = best_so_far
        self.resumed_from = resumed_from
        self.session = session or TrainSession()

    def on_epoch_end(self, result, checkpoint_dir: Path | None) -> None:
        if result.score is not None:
            self.best = max(self.best, result.score)
        metrics = epoch_metrics(result, self.best, self.epochs_total, self.resumed_from)
        self._report(metrics, checkpoint_dir, epoch_dir_name(result.epoch))

    def on_train_end(self, result) -> None:
        metrics = final_metrics(result, self.epochs_total, self.resumed_from)
        self._report(metrics, Path(result.checkpoint_dir) if result.checkpoint_dir else None, FINAL_DIR_NAME)

    @timed("worker:RayReportHooks._report")
    def _report(self, metrics: dict, folder: Path | None, dir_name: str) -> None:
        if folder is not None:  # rank 0 only
            (folder / STATE_FILE).write_text(json.dumps(metrics, sort_keys=True), encoding="utf-8")
        self.session.report(metrics, folder, dir_name)


def epoch_metrics(result, best_so_far: float, epochs_total: int, resumed_from: int) -> dict:
    """An epoch's report, from the core's `EpochResult` and the trial's running best (METRIC)."""
    return {
        **result.summary(),
        METRIC: best_so_far,
        "epochs_total": epochs_total,
        "resumed_from_epoch": resumed_from,
        FINAL_KEY: False,
    }


def final_metrics(result, epochs_total: int, resumed_from: int) -> dict:
    """The last report of a trial, from the core's `TrainResult`: its best-dev epoch's dev figures and the
    test figures of those weights, flat (selfre.metrics.objective.flat_scores), and both values of the
    search objective (dev_score = METRIC, test_score)."""
    test = result.test or {}
    pc = test.get("person_centric") or {}
    last_epoch = result.history[-1].epoch if result.history else 0
    dev_score = score(result.best_dev, result.objective) if result.best_dev else 0.0
    return {
        "epoch": last_epoch,
        "epochs_total": epochs_total,
        "best_epoch": result.best_epoch,
        METRIC: dev_score,
        "dev_score": dev_score,
        "test_score": score(test, result.objective) if test else None,
        **flat_scores(result.best_dev, "dev"),
        **flat_scores(test, "test"),
        "test_pc_precision": pc.get("precision"),
        "test_pc_recall": pc.get("recall"),
        "resumed_from_epoch": resumed_from,
        FINAL_KEY: True,
    }


@timed("worker:train_loop_per_worker")
def train_loop_per_worker(config: dict) -> None:
    """`TorchTrainer(train_loop_per_worker=...)`; `config` comes from trainable.run_trial."""
    train_trial(config, TrainSession())


@timed("worker:train_trial")
def train_trial(config: dict, session) -> None:
    """One trial's training on one rank, whichever process runs it (`session`: TrainSession in a Ray Train
    worker, in_trial.TrialSession in a one-worker Tune trial): the same loop, checkpoints, reports and MLflow run."""
    with timing("import selfre.train.loop"):
        from selfre.train.loop import train  # here, not at the top: see RayReportHooks

    _quiet_logs()
    cfg = RunConfig.from_dict(config["run"])
    workdir = Path(tempfile.mkdtemp(prefix="selfre-worker-"))
    cfg.out_dir = str(workdir / "out")  # the core's files; rank 0's are uploaded as checkpoints
    cfg.train.progress = False  # bars from several workers interleave into noise in Ray's logs
    cfg.train.device = worker_device(cfg.train.device, config["use_gpu"])
    if not cfg.train.num_threads:
        cfg.train.num_threads = config["threads_per_worker"]  # else every worker takes every core
    # --data-dir s3://…: this node's verified copy (the first worker on a node downloads, others re-use it).
    cfg.data.data_dir = local_data_dir(cfg.data.data_dir, cfg.data.dataset)
    try:
        state, resume_from = _restore(workdir, session.get_checkpoint())
        tracking = config.get("tracking")  # MLflow (rank 0 only), imported only then: workers without it stay light
        rank, world = session.rank, session.world
        if state.get(FINAL_KEY):
            session.report(state)  # finished before: report it again, train nothing
            if tracking and rank == 0:
                from selfre.tracking.child import end_reported

                end_reported(tracking, rank, config["config_id"], config["seed"], cfg, state, run_config=config["run"])
            return
        hooks = RayReportHooks(cfg.train.epochs, float(state.get(METRIC, 0.0)), int(state.get("epoch", 0)), session)
        if tracking and rank == 0:  # only rank 0 logs: the others need not import MLflow and matplotlib (~1.5 s CPU)
            with timing("import selfre.tracking.child"):
                from selfre.tracking.child import tracked_hooks

            # train.batch_size is the global batch: what each worker took of it is a fact of this run.
            ddp = {"train.world_size": world, "train.per_rank_batch_size": cfg.train.batch_size // world}
            # run_config: the trial's config as the search built it (cfg is this worker's: temp out_dir, local data)
            hooks = tracked_hooks(
                hooks, tracking, rank, config["config_id"], config["seed"], cfg, ddp, run_config=config["run"]
            )
        train(cfg, hooks=hooks, resume_from=resume_from)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def worker_device(configured: str, use_gpu: bool) -> str:
    """The device a worker trains on: Ray Train's choice, whatever `train.device` says. With GPUs, the one
    Ray assigned to this worker (a config's `cuda:N` would put every rank on GPU N: NCCL refuses duplicate
    GPUs); without, the CPU (a CPU trial on a GPU node must not take a GPU Ray did not assign)."""
    if use_gpu:
        from ray.train.torch import get_device

        device = str(get_device())
    else:
        device = "cpu"
    if configured not in ("auto", device):
        log.warning(
            "train.device=%s ignored inside Ray: this worker trains on %s (Ray Train's device)", configured, device
        )
    return device


def _quiet_logs() -> None:
    """Per trial x epoch x worker lines that bury Tune's progress table in the driver's console:
    transformers' weight loading/saving bars, and Ray Train V2's log of every report (full metrics
    included) — on a logger named after its source file, outside `ray.train`, so RunConfig's
    LoggingConfig does not reach it."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # and its per-model load report (e.g. the unused pooler of BERT-like encoders), as `selfre` does for the CLI
    if "TRANSFORMERS_VERBOSITY" not in os.environ:
        hf_logging.set_verbosity_error()
    try:
        from ray.train.v2._internal.execution import context
    except ImportError:
        return
    logging.getLogger(context.__file__).setLevel(logging.WARNING)


def _restore(workdir: Path, checkpoint: Checkpoint | None) -> tuple[dict, Path | None]:
    """(platform state of the newest checkpoint, local copy to resume from), or ({}, None) on a fresh
    start. A final checkpoint is not downloaded: only its state is needed to report it again."""
    if checkpoint is None:
        return {}, None
    state = _read_state(checkpoint)
    log.warning(
        "restoring from %s (epoch %s%s)", checkpoint.path, state.get("epoch"), ", final" if state.get(FINAL_KEY) else ""
    )
    if state.get(FINAL_KEY):
        return state, None
    return state, Path(checkpoint.to_directory(str(workdir / "restored")))


def _read_state(checkpoint: Checkpoint) -> dict:
    try:
        with checkpoint.filesystem.open_input_stream(f"{checkpoint.path}/{STATE_FILE}") as src:
            return json.loads(src.readall().decode("utf-8"))
    except (FileNotFoundError, OSError):
        return {}  # not written by this platform: resume from it all the same
