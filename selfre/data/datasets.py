"""`load_splits`: from a `DataConfig` to validated train/dev/test records, their label set and a
record of what was read (`info`, stored in checkpoints so a run can be traced back to its data)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from selfre.config import DATASETS, DataConfig
from selfre.data import jsonl, semeval, tacred
from selfre.data.demo import generate_demo
from selfre.data.digest import records_digest
from selfre.data.labels import CANONICAL, LabelSet, label_set_from_training_labels
from selfre.data.record import RelationRecord
from selfre.data.source import FileRecords
from selfre.errors import ConfigError, DataError
from selfre.stage_timer import timed

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
DEFAULT_DEMO_DIR = "demo_data"  # used when dataset=demo and data_dir is unset (git-ignored)
_SKIPPED_SHOWN = 5  # example messages kept in `info` per split; the count is always complete

_TACRED_FIELDS = (
    "JSON arrays of records with id, token, subj_start, subj_end, obj_start, obj_end (inclusive "
    "ends), subj_type, obj_type, relation"
)
_LAYOUTS = {
    "tacred": "TACRED is licensed by the LDC as LDC2018T24 (https://catalog.ldc.upenn.edu/LDC2018T24) and is not "
    f"shipped with selfre. Expected layout: data_dir/train.json, data_dir/dev.json, data_dir/test.json ({_TACRED_FIELDS}).",
    "retacred": "Re-TACRED = TACRED (LDC2018T24, https://catalog.ldc.upenn.edu/LDC2018T24, licensed by the LDC) "
    "relabelled by the public patch https://github.com/gstoica27/Re-TACRED; build it with `selfre data retacred "
    "--tacred TACRED_DIR --patch PATCH_DIR --out DIR`. Expected layout: data_dir/train.json, data_dir/dev.json, "
    f"data_dir/test.json ({_TACRED_FIELDS}).",
    "semeval": "SemEval-2010 Task 8 original files: data_dir/TRAIN_FILE.TXT and data_dir/TEST_FILE_FULL.TXT (or the "
    "official archive's SemEval2010_task8_training/ and SemEval2010_task8_testing_keys/ sub-folders). The dev "
    "split is carved from TRAIN_FILE (data.semeval_dev_fraction, data.semeval_dev_seed).",
    "jsonl": 'JSON lines, OpenNRE layout ({"token": [...], "h": {"pos": [start, end_exclusive]}, "t": {...}, '
    '"relation": ...} per line): data_dir/train.txt, data_dir/val.txt, data_dir/test.txt, or data_dir/train.jsonl, '
    "data_dir/dev.jsonl, data_dir/test.jsonl. The label set is the training labels plus data.no_relation_label.",
    "demo": "Synthetic demo corpus in TACRED format: data_dir/train.json, data_dir/dev.json, data_dir/test.json, "
    f"generated there when train.json is missing (data_dir defaults to ./{DEFAULT_DEMO_DIR}); "
    "`selfre data demo --out DIR` writes one explicitly.",
}


def describe_expected_layout(dataset: str) -> str:
    """Where `dataset`'s files must be and where to get them: printed when data is missing."""
    try:
        return _LAYOUTS[dataset]
    except KeyError:
        raise ConfigError(f"data.dataset={dataset!r}: expected one of {', '.join(DATASETS)}") from None


@dataclass
class DatasetSplits:
    train: list[RelationRecord]
    dev: list[RelationRecord]
    test: list[RelationRecord]
    label_set: LabelSet
    info: dict = field(default_factory=dict)

    def split(self, name: str) -> list[RelationRecord]:
        if name not in SPLITS:
            raise KeyError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}")
        return getattr(self, name)


@timed("datasets:load_splits")
def load_splits(cfg: DataConfig) -> DatasetSplits:
    """Read, validate and (optionally) truncate the three splits of `cfg.dataset` under `cfg.data_dir`.

    Raises `DataError` naming the file and record for any bad input (or skips bad records under
    `cfg.skip_bad`, counting them in `info["skipped"]`), `ConfigError` for an unusable config.
    """
    dataset = cfg.dataset
    describe_expected_layout(dataset)  # validates the name before touching the disk
    if not cfg.data_dir and dataset != "demo":
        raise ConfigError(f"data.data_dir is not set for dataset {dataset}. {_LAYOUTS[dataset]}")
    data_dir = Path(cfg.data_dir or DEFAULT_DEMO_DIR)
    if dataset == "demo" and not (data_dir / tacred.SPLIT_FILES["train"]).is_file():
        logger.info("generating the demo corpus in %s", data_dir)
        generate_demo(data_dir)
    try:
        paths = _locate(dataset, data_dir)
    except DataError as exc:
        raise DataError(exc.path, f"{exc.reason}. {_LAYOUTS[dataset]}") from None

    label_set, reads, extra = _read(dataset, paths, cfg)
    splits = {split: reads[split].records for split in SPLITS}
    skipped = {split: reads[split].skipped for split in SPLITS}
    limits = {"train": cfg.max_train_examples, "dev": cfg.max_eval_examples, "test": cfg.max_eval_examples}
    used = {split: splits[split][: limits[split]] if limits[split] > 0 else splits[split] for split in SPLITS}
    for split in SPLITS:
        if skipped[split]:
            logger.warning(
                "%s split: skipped %d bad record(s), first: %s", split, len(skipped[split]), skipped[split][0]
            )

    files = {split: str(path) for split, path in paths.items()}
    info = {
        "dataset": dataset,
        "data_dir": str(data_dir),
        "files": files,
        "sha256": {path: _sha256(path) for path in sorted(set(files.values()))},
        "label_set": label_set.name,
        "num_labels": len(label_set),
        "records_read": {split: len(splits[split]) for split in SPLITS},
        "counts": {split: len(used[split]) for split in SPLITS},
        # What was used, not what was read: the registry compares dev scores only on equal dev digests.
        "digests": {split: records_digest(used[split]) for split in SPLITS},
        "skipped": {split: len(skipped[split]) for split in SPLITS},
        "skipped_examples": {split: [str(e) for e in skipped[split][:_SKIPPED_SHOWN]] for split in SPLITS},
        "max_train_examples": cfg.max_train_examples,
        "max_eval_examples": cfg.max_eval_examples,
        **extra,
    }
    return DatasetSplits(used["train"], used["dev"], used["test"], label_set, info)


def _locate(dataset: str, data_dir: Path) -> dict[str, Path]:
    """Split -> file; DataError naming what is missing. SemEval's dev lives in its train file."""
    if not data_dir.is_dir():
        raise DataError(data_dir, "data folder not found")
    if dataset == "semeval":
        found = semeval.find_split_files(data_dir)
        return {"train": found["train"], "dev": found["train"], "test": found["test"]}
    if dataset == "jsonl":
        return jsonl.find_split_files(data_dir)
    paths = {split: data_dir / name for split, name in tacred.SPLIT_FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise DataError(data_dir, f"missing {', '.join(missing)}")
    return paths


def _read(dataset: str, paths: dict[str, Path], cfg: DataConfig) -> tuple[LabelSet, dict[str, FileRecords], dict]:
    """The label set, each split's records, and dataset-specific `info` entries."""
    if dataset == "semeval":
        labels = CANONICAL["semeval"]
        train = semeval.read_semeval(paths["train"], labels, cfg.skip_bad)
        test = semeval.read_semeval(paths["test"], labels, cfg.skip_bad)
        # Dev is carved from the good TRAIN_FILE records; bad ones are counted once, under train.
        kept, dev = semeval.carve_dev(train.records, cfg.semeval_dev_fraction, cfg.semeval_dev_seed)
        reads = {
            "train": FileRecords(train.path, kept, train.skipped),
            "dev": FileRecords(train.path, dev),
            "test": test,
        }
        extra = {
            "semeval_dev": {
                "fraction": cfg.semeval_dev_fraction,
                "seed": cfg.semeval_dev_seed,
                "ids": [r.id for r in dev],
            }
        }
        return labels, reads, extra
    if dataset == "jsonl":
        train = jsonl.read_jsonl(paths["train"], None, cfg.skip_bad)
        train_labels = {r.relation for r in train.records}
        if cfg.no_relation_label not in train_labels:
            logger.warning(
                "no training record is labelled %r (data.no_relation_label); if this corpus names its "
                "no-relation class differently, set that flag",
                cfg.no_relation_label,
            )
        labels = label_set_from_training_labels("jsonl", train_labels, cfg.no_relation_label)
        reads = {"train": train, **{s: jsonl.read_jsonl(paths[s], labels, cfg.skip_bad) for s in ("dev", "test")}}
        return labels, reads, {"labels": list(labels.labels)}
    labels = CANONICAL[dataset]  # tacred, retacred, demo: one TACRED-format reader
    return labels, {s: tacred.read_tacred(paths[s], labels, cfg.skip_bad) for s in SPLITS}, {}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
