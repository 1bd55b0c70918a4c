"""The Tune trial: a function that trains a one-worker trial itself (in_trial.py) or launches one Ray Train
run (Train V2's Tune integration) for a multi-worker one — the same training loop (worker.train_trial) either way.

Passing a Trainer to `Tuner` is gone in Ray Train V2; instead each Tune trial runs this small driver
function, which builds the trial's RunConfig (base + the configuration's params + its seed), starts a
`TorchTrainer` (trainer.LeanTorchTrainer) over `workers_per_trial` workers and waits. `TuneReportCallback` forwards rank 0's
`ray.train.report` metrics (and the checkpoint path) to Tune, where the searcher and scheduler see
them.

The Train run's name is derived from what the trial trains (see run_name): if Tune restarts the trial
(`--resume` after the driver was killed) the new TorchTrainer finds the old run's checkpoints in
storage and continues from the newest one.
"""

from __future__ import annotations

import hashlib
import json

import ray.tune
from ray.train import CheckpointConfig, FailureConfig, LoggingConfig, ScalingConfig
from ray.train import RunConfig as TrainRunConfig
from ray.train.torch import TorchConfig
from ray.tune.integration.ray_train import TuneReportCallback

from selfre import storage
from selfre.config import RunConfig
from selfre.search.in_trial import TrialSession, in_trial
from selfre.search.plan import SearchPlan
from selfre.search.resources import DRIVER_CPUS, TrialResources
from selfre.search.space import apply_params
from selfre.search.trainer import LeanTorchTrainer
from selfre.search.worker import train_loop_per_worker, train_trial
from selfre.stage_timer import timed, timing

# Params that change the `tiny` preset (its tokenizer is trained on the marked training split).
_PRESET_INPUTS = ("data.", "model.model_name_or_path")


def run_name(config: dict) -> str:
    """The trial's Ray Train run folder: configuration, seed and a digest of the params — never the
    trial id or a timestamp. A restarted trial finds its own checkpoints under this name; and if a
    resumed search re-issues a (configuration, seed) whose trial was lost from Tune's last saved state,
    the new trial finds the old run too and continues it (or only re-reports it) instead of training
    the same thing twice."""
    digest = hashlib.sha256(json.dumps(config["params"], sort_keys=True).encode()).hexdigest()[:8]
    return f"{config['config_id']}-seed{config['seed']}-{digest}"


@timed("trainable:warm_preset_cache")
def warm_preset_cache(cfg: RunConfig, splits=None) -> None:
    """Build the offline `tiny` encoder preset once, before the trials' workers start.

    Why: otherwise every worker of every concurrent trial trains the same BPE tokenizer at once (each
    build is correct and the cache rename is atomic, but on 2 cores that is seconds of wasted CPU per
    worker). The search driver calls this once for the base config; a trial driver only when its params
    change what the preset is built from. Workers on the same node then find it cached; workers on
    other nodes build it once per node. Other presets and HF names need no build."""
    if cfg.model.model_name_or_path != "tiny":
        return
    from selfre.data.datasets import load_splits
    from selfre.model.build import marked_corpus
    from selfre.model.presets import resolve_encoder
    from selfre.storage.data_dir import local_data_dir

    if splits is None:
        cfg = RunConfig.from_dict(cfg.to_dict())  # a copy: the trial's config keeps its s3:// data dir
        cfg.data.data_dir = local_data_dir(cfg.data.data_dir, cfg.data.dataset)
        splits = load_splits(cfg.data)
    resolve_encoder("tiny", lambda: marked_corpus(splits.train, cfg.data.marker))


def scaling_config(resources: TrialResources) -> ScalingConfig:
    """The trial's Ray Train workers: count, per-worker resources and their placement (resources.py)."""
    return ScalingConfig(
        num_workers=resources.workers,
        use_gpu=resources.use_gpu,
        resources_per_worker=resources.per_worker(),
        placement_strategy=resources.placement_strategy,
    )


@timed("trainable:run_trial")
def run_trial(config: dict, plan: SearchPlan) -> None:
    """Tune function trainable: one (configuration, seed), trained here if it has one worker (in_trial.py),
    else with Ray Train."""
    cfg = apply_params(plan.base, config["params"], seed=config["seed"])
    if any(k.startswith(_PRESET_INPUTS) for k in config["params"]):
        warm_preset_cache(cfg)  # the search driver warmed the base config's only
    resources = plan.resources()
    loop_config = {
        "run": cfg.to_dict(),
        "use_gpu": resources.use_gpu,
        "threads_per_worker": resources.threads_per_worker(),
        # MLflow (rank 0 only): the parent run to nest under, and what names this trial's child run.
        "tracking": plan.tracking,
        "config_id": config["config_id"],
        "seed": config["seed"],
    }
    if in_trial(resources.workers):
        session = TrialSession(storage.join(plan.train_storage, run_name(config)), plan.search.keep_checkpoints)
        train_trial(loop_config, session)
        return
    trainer = LeanTorchTrainer(  # TorchTrainer without Ray Data's per-run actor and imports (trainer.py)
        train_loop_per_worker,
        train_loop_config=loop_config,
        torch_config=TorchConfig(backend=resources.backend),
        scaling_config=scaling_config(resources),
        run_config=TrainRunConfig(
            name=run_name(config),
            storage_path=plan.train_storage,
            # A crashed worker group restarts from the newest checkpoint instead of failing the trial.
            failure_config=FailureConfig(max_failures=plan.search.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=plan.search.keep_checkpoints),
            callbacks=[TuneReportCallback()],
            # Ray Train logs every report and checkpoint at INFO: with many trials that buries Tune's table.
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )
    with timing("ray:TorchTrainer.fit"):
        trainer.fit()  # raises TrainingFailedError once max_failures restarts are used up: the trial errors


def make_trainable(plan: SearchPlan, run=run_trial):
    """The trainable Tune runs (and `Tuner.restore` needs again): `run(config, plan)` (run_trial; tests pass a
    stand-in that wraps it, tests/fault_support.py) with the driver's token CPU when Ray Train's
    workers hold the trial's resources; with exactly its one worker's when it trains in its Tune trial itself
    (no driver beside it: a token CPU more would keep a `--cpus-per-worker N` trial off an N-CPU node)."""
    resources = plan.resources()
    held = resources.per_worker() if in_trial(resources.workers) else {"CPU": DRIVER_CPUS}
    return ray.tune.with_resources(ray.tune.with_parameters(run, plan=plan), held)
