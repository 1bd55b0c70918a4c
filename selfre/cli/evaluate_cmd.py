"""`selfre evaluate`: score a checkpoint on a split of its dataset."""

from __future__ import annotations

import dataclasses
import json


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="Score a checkpoint on its dataset's dev or test split.",
        description="Re-reads the checkpoint's dataset (same reader, labels, SemEval dev carve-out) "
        "and prints micro P/R/F1, person-centric and per-relation scores.",
    )
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="A model checkpoint folder (OUT/checkpoint).")
    p.add_argument("--split", choices=("dev", "test"), default="test", help="Split to score (default: test).")
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="Dataset folder (or s3://bucket/prefix), if it moved since "
        "training or the checkpoint's is another machine's cache.",
    )
    p.add_argument("--batch-size", type=int, default=64, help="Evaluation batch size (default: 64).")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto).")
    p.add_argument("--json", action="store_true", help="Print the full metrics as one JSON object.")
    p.set_defaults(func=run)


def run(args) -> int:
    from selfre.cli.scorer_tables import format_report
    from selfre.data.datasets import load_splits
    from selfre.encoding.encode import RelationEncoder
    from selfre.storage.data_dir import local_data_dir
    from selfre.train.checkpoint import load_model_checkpoint
    from selfre.train.evaluate import evaluate_examples
    from selfre.train.loop import resolve_device

    device = resolve_device(args.device)
    model, tokenizer, label_set, cfg, _ = load_model_checkpoint(args.checkpoint, device=device)
    data_dir = local_data_dir(args.data_dir or cfg.data.data_dir, cfg.data.dataset)  # s3://… as `selfre train` takes it
    data_cfg = dataclasses.replace(cfg.data, data_dir=data_dir)
    splits = load_splits(data_cfg)
    records = getattr(splits, args.split)
    for i, r in enumerate(records):
        label_set.check(r.relation, f"{args.split} split", i, r.id)
    encoder = RelationEncoder(tokenizer, data_cfg.marker, data_cfg.max_seq_length, cfg.model.iel_include_markers)
    examples, _ = encoder.encode(records, label_set)
    metrics, _ = evaluate_examples(model, records, examples, label_set, args.batch_size, tokenizer.pad_token_id, device)
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
    else:
        print(f"{args.checkpoint} on the {args.split} split\n")
        print(format_report(metrics))
    return 0
