"""`selfre score`: score a prediction file against a gold file, like the official scorers do.

Two input layouts, the official scorers' own, so files written for them score here unchanged:
- `--format tacred` (TACRED score.py): one label per line, gold and prediction paired by line;
- `--format semeval` (semeval2010_task8_scorer-v1.2.pl): `ID<TAB>LABEL` lines, paired by ID.

The figures come from `selfre.metrics.compute_metrics`, the same function training and reports use.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from selfre.cli.scorer_tables import format_report
from selfre.data.labels import CANONICAL, SEMEVAL, SEMEVAL_RELATION_TYPES, LabelSet, label_set_from_training_labels
from selfre.errors import ConfigError, DataError
from selfre.metrics import compute_metrics

TACRED_DATASETS = ("tacred", "retacred", "demo")
DEFAULT_NO_RELATION = "no_relation"
# Name of the label set built from the labels the two files contain (tacred format, no --dataset).
UNION_NAME = "union"


def register(sub) -> None:
    p = sub.add_parser(
        "score",
        help="Score predictions against gold labels (micro/per-relation/person-centric P/R/F1, SemEval official).",
        description=(
            "Score PRED against GOLD. Micro P/R/F1 exclude the no-relation label (TACRED official scorer); "
            "--format semeval also prints the SemEval-2010 Task 8 official score, the (9+1)-way macro-F1 "
            "with directionality taken into account."
        ),
    )
    p.add_argument(
        "--format",
        required=True,
        choices=("tacred", "semeval"),
        help="tacred: one label per line, paired by line number (TACRED score.py input). "
        "semeval: 'ID<TAB>LABEL' lines (any whitespace accepted), paired by ID; IDs must be unique and the "
        "same in both files; labels carry their direction, e.g. Cause-Effect(e2,e1) "
        "(semeval2010_task8_scorer input; TEST_FILE_KEY.TXT has no directions, build the key from TEST_FILE_FULL.TXT).",
    )
    p.add_argument("gold", metavar="GOLD", type=Path, help="Gold labels file.")
    p.add_argument("pred", metavar="PRED", type=Path, help="Predicted labels file, in the same format as GOLD.")
    p.add_argument(
        "--json",
        action="store_true",
        help="Print one JSON object instead of tables: precision, recall, f1 (micro, no-relation excluded), "
        "per_relation, person_centric, confusion and, for semeval, official_macro_f1, micro_f1 and per_type. "
        "Scores are fractions, not percents.",
    )
    labels = p.add_mutually_exclusive_group()
    labels.add_argument(
        "--dataset",
        choices=TACRED_DATASETS,
        help="tacred format only: check labels against this canonical label set (its no-relation is "
        "'no_relation'). Default: the label set is every label found in GOLD or PRED.",
    )
    labels.add_argument(
        "--no-relation",
        metavar="LABEL",
        help=f"tacred format only, without --dataset: the no-relation label (default: {DEFAULT_NO_RELATION}).",
    )
    p.set_defaults(func=run)


# ---- reading -----------------------------------------------------------------------------------


def _lines(path: Path) -> list[str]:
    """The file's lines, CRLF or LF, without trailing blank lines (an editor's final newline is no label)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise DataError(path, exc.strerror or str(exc)) from None
    except UnicodeDecodeError as exc:
        raise DataError(path, f"not valid UTF-8 (byte {exc.start})") from None
    lines = re.split(r"\r?\n", text)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_line_labels(path: Path) -> list[str]:
    labels = [line.strip() for line in _lines(path)]
    for n, label in enumerate(labels, 1):
        if not label:
            raise DataError(path, f"line {n}: empty label")
    return labels


def read_id_labels(path: Path) -> dict[str, tuple[str, int]]:
    """{id: (label, line number)} in file order; blank lines are skipped."""
    out: dict[str, tuple[str, int]] = {}
    for n, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise DataError(path, f"line {n}: expected 'ID<TAB>LABEL', got {line.strip()!r}")
        rid, label = fields
        if rid in out:
            raise DataError(path, f"line {n}: duplicate id {rid} (first on line {out[rid][1]})")
        out[rid] = (label, n)
    return out


# Each pairing returns gold labels, predicted labels, and for each pair where it sits in GOLD and in
# PRED ("line 7", "line 7 (id 8007)"), so a bad label can be pointed at.


def pair_by_line(gold_path: Path, pred_path: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    gold, pred = read_line_labels(gold_path), read_line_labels(pred_path)
    if len(gold) != len(pred):
        longer, shorter = (gold_path, pred_path) if len(gold) > len(pred) else (pred_path, gold_path)
        raise DataError(
            pred_path,
            f"{len(pred)} labels but {gold_path} has {len(gold)}: line {min(len(gold), len(pred)) + 1} of "
            f"{longer} has no counterpart in {shorter}",
        )
    where = [f"line {n}" for n in range(1, len(gold) + 1)]
    return gold, pred, where, where


def pair_by_id(gold_path: Path, pred_path: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    """Pairs in GOLD's order; the two files' id sets must be equal."""
    gold, pred = read_id_labels(gold_path), read_id_labels(pred_path)
    for rid, (_, n) in gold.items():
        if rid not in pred:
            raise DataError(pred_path, f"id {rid} (line {n} of {gold_path}) has no prediction")
    for rid, (_, n) in pred.items():
        if rid not in gold:
            raise DataError(pred_path, f"line {n}: id {rid} does not occur in {gold_path}")
    ids = list(gold)
    return (
        [gold[i][0] for i in ids],
        [pred[i][0] for i in ids],
        [f"line {gold[i][1]} (id {i})" for i in ids],
        [f"line {pred[i][1]} (id {i})" for i in ids],
    )


def check_labels(labels: list[str], where: list[str], path: Path, label_set: LabelSet) -> None:
    for label, at in zip(labels, where, strict=True):
        if label not in label_set:
            hint = ""
            if label in SEMEVAL_RELATION_TYPES:
                hint = (
                    "; SemEval labels carry a direction, e.g. Cause-Effect(e1,e2) (build keys from TEST_FILE_FULL.TXT)"
                )
            raise DataError(path, f"{at}: unknown label {label!r} (not in the {label_set.name} label set){hint}")


def choose_label_set(args, gold: list[str], pred: list[str]) -> LabelSet:
    if args.format == "semeval":
        if args.dataset or args.no_relation:
            raise ConfigError("--dataset and --no-relation apply to --format tacred only")
        return SEMEVAL
    if args.dataset:
        return CANONICAL[args.dataset]
    return label_set_from_training_labels(UNION_NAME, [*gold, *pred], args.no_relation or DEFAULT_NO_RELATION)


# ---- command -----------------------------------------------------------------------------------


def run(args) -> int:
    pair = pair_by_line if args.format == "tacred" else pair_by_id
    gold, pred, gold_where, pred_where = pair(args.gold, args.pred)
    label_set = choose_label_set(args, gold, pred)
    check_labels(gold, gold_where, args.gold, label_set)
    check_labels(pred, pred_where, args.pred, label_set)
    metrics = compute_metrics(gold, pred, label_set)
    if args.json:
        # The SemEval figures sit at the top level next to the micro ones, as documented for --json.
        semeval = metrics.pop("semeval", {})
        print(json.dumps({**metrics, **semeval}, indent=2))
        return 0
    print(format_report(metrics))
    return 0
