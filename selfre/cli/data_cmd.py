"""`selfre data`: check a dataset, build Re-TACRED from TACRED + patch, write the demo corpus."""

from __future__ import annotations

import argparse
import textwrap
from collections import Counter

from selfre.config import DATASETS
from selfre.config_flags import add_config_args, config_from_args
from selfre.data.datasets import SPLITS, describe_expected_layout, load_splits
from selfre.data.demo import DEFAULT_SIZES, generate_demo
from selfre.data.retacred import apply_patch


def register(sub) -> None:
    parser = sub.add_parser(
        "data",
        help="Check a dataset, build Re-TACRED, write the demo corpus.",
        description="Dataset utilities. Run `selfre data ACTION --help` for each action's flags.",
    )
    actions = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    check = actions.add_parser(
        "check",
        help="Validate a dataset and print record counts per split and per label.",
        # Raw formatting keeps one paragraph per dataset layout; each is wrapped here instead.
        description=textwrap.fill(
            "Read every split exactly as training would, validating each record; print counts per split and "
            "per label. Exits non-zero (naming file and record) on the first bad record unless --skip-bad is "
            "given.",
            100,
        )
        + "\n\nExpected layouts:\n"
        + "\n".join(
            textwrap.fill(f"{name}: {describe_expected_layout(name)}", 100, subsequent_indent="  ") for name in DATASETS
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # The data flags are generated from DataConfig, so they match `selfre train` flag for flag.
    add_config_args(check, sections=("data",), exclude=("marker", "max_seq_length"))
    check.set_defaults(func=_check)

    retacred = actions.add_parser(
        "retacred",
        help="Build Re-TACRED from a TACRED copy and the Re-TACRED patch files.",
        description="Keep each TACRED record whose id is in PATCH/{split}_id2label.json with its Re-TACRED label, "
        "drop the others, and write OUT/{train,dev,test}.json. Prints kept/dropped/relabelled counts.",
    )
    retacred.add_argument(
        "--tacred",
        required=True,
        metavar="DIR",
        help="TACRED folder holding train.json, dev.json, test.json (LDC2018T24).",
    )
    retacred.add_argument(
        "--patch",
        required=True,
        metavar="DIR",
        help="Folder holding train_id2label.json, dev_id2label.json, test_id2label.json "
        "(https://github.com/gstoica27/Re-TACRED).",
    )
    retacred.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="Output folder for the Re-TACRED train/dev/test.json (created; must differ from --tacred).",
    )
    retacred.set_defaults(func=_retacred)

    demo = actions.add_parser(
        "demo",
        help="Write the synthetic TACRED-format demo corpus.",
        description="Write a seeded synthetic corpus (TACRED format, demo label set: 14 relations + no_relation) "
        "to OUT/{train,dev,test}.json. The same seed and sizes always give byte-identical files.",
    )
    demo.add_argument("--out", required=True, metavar="DIR", help="Output folder (created if missing).")
    demo.add_argument("--seed", type=int, default=13, help="Random seed (default: 13).")
    for split, size in DEFAULT_SIZES.items():
        demo.add_argument(
            f"--{split}", type=int, default=size, metavar="N", help=f"Number of {split} records (default: {size})."
        )
    demo.set_defaults(func=_demo)


def _table(header: list[str], rows: list[list]) -> str:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    # Numbers right-aligned so their digits line up; names and paths left-aligned.
    lines = [
        "  ".join(c.rjust(w) if c.isdigit() else c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    return "\n".join(lines)


def _check(args: argparse.Namespace) -> int:
    cfg = config_from_args(args).data
    data = load_splits(cfg)
    info = data.info
    print(
        f"dataset {info['dataset']} in {info['data_dir']}: label set {data.label_set.name} ({len(data.label_set)} labels)"
    )
    print(
        _table(
            ["split", "records", "skipped", "file"],
            [[s, info["counts"][s], info["skipped"][s], info["files"][s]] for s in SPLITS],
        )
    )
    if "semeval_dev" in info:
        dev = info["semeval_dev"]
        print(
            f"dev = {len(dev['ids'])} records carved from the train file (fraction {dev['fraction']}, seed {dev['seed']})"
        )
    for split in SPLITS:
        for message in info["skipped_examples"][split]:
            print(f"skipped: {message}")
    counts = {s: Counter(r.relation for r in data.split(s)) for s in SPLITS}
    rows = [[label, *(counts[s][label] for s in SPLITS)] for label in data.label_set.labels]
    rows.append(["total", *(info["counts"][s] for s in SPLITS)])
    print()
    print(_table(["label", *SPLITS], rows))
    return 0


def _retacred(args: argparse.Namespace) -> int:
    counts = apply_patch(args.tacred, args.patch, args.out)
    columns = ["read", "kept", "dropped", "relabelled", "patch_unmatched"]
    print(f"wrote Re-TACRED to {args.out}")
    print(_table(["split", *columns], [[s, *(counts[s][c] for c in columns)] for s in SPLITS]))
    return 0


def _demo(args: argparse.Namespace) -> int:
    paths = generate_demo(args.out, seed=args.seed, n_train=args.train, n_dev=args.dev, n_test=args.test)
    sizes = {"train": args.train, "dev": args.dev, "test": args.test}
    for split, path in paths.items():
        print(f"wrote {sizes[split]} {split} records to {path}")
    return 0
