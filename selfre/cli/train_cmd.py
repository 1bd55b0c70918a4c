"""`selfre train`: one SELF run, bare (no Ray, no MLflow)."""

from __future__ import annotations

import json
import logging

from selfre.config_flags import add_config_args, config_from_args

log = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="Train SELF (or an ablation) on a dataset.",
        description="Train SELF with AdamW + linear warm-up/decay, evaluate on dev each epoch, keep the best-dev "
        "checkpoint and report test metrics with it. Output: OUT/checkpoint (model), OUT/last (resumable "
        "epoch state), OUT/metrics.json, OUT/test_predictions.txt. --data-dir may be a local folder or "
        "s3://bucket/prefix (fetched once into a verified local cache, as a search does). A search's "
        "best_config.json re-trains as the search's trial did: its `reproduce` section supplies the device type "
        "and threads the config leaves open, and names the torchrun command for its data-parallel world size.",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="Output folder for checkpoints and metrics.")
    p.add_argument("--resume", metavar="DIR", help="Continue from an epoch checkpoint (e.g. OUT/last).")
    add_config_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from selfre import reproduce
    from selfre.storage.data_dir import local_data_dir
    from selfre.train import distributed
    from selfre.train.loop import resolve_device, train

    cfg = config_from_args(args)
    trained = reproduce.read(args.config)
    if trained is not None:
        reproduce.apply(cfg, trained)
    # Under `torchrun --nproc-per-node N` every process runs this: one DDP job, rank 0 writes OUT.
    opened = distributed.init_from_env()
    try:
        rank, world = distributed.rank_world()
        if trained is not None and rank == 0:
            for difference in reproduce.differences(trained, world, resolve_device(cfg.train.device).type):
                log.warning("%s: this run has %s: figures will differ from the trial's", args.config, difference)
        cfg.data.data_dir = local_data_dir(cfg.data.data_dir, cfg.data.dataset)
        result = train(cfg, resume_from=args.resume)
    finally:
        if opened:
            distributed.close()
    if rank != 0:
        return 0
    test = result.test or {}
    print(
        json.dumps(
            {
                "checkpoint": result.checkpoint_dir,
                "best_epoch": result.best_epoch,
                "objective": result.objective,
                "dev": {k: result.best_dev.get(k) for k in ("precision", "recall", "f1")},
                "test": {k: test.get(k) for k in ("precision", "recall", "f1")},
                "test_person_centric_f1": (test.get("person_centric") or {}).get("f1"),
                **({"test_official_macro_f1": test["semeval"]["official_macro_f1"]} if "semeval" in test else {}),
            },
            indent=2,
        )
    )
    return 0
