"""`selfre predict`: label relations in a JSON-lines file with a trained checkpoint."""

from __future__ import annotations

import json
import sys

from selfre.errors import DataError


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="Predict relations for records in a JSON-lines file.",
        description='Each input line is a JSON object: {"tokens": [...], "subj": [s, e], "obj": [s, e]} '
        '(token spans) or {"text": "...", "subj": [s, e], "obj": [s, e]} (character spans); spans are '
        "end-exclusive. Optional: subj_type, obj_type, id. Prints one JSON line per record: id, label, probability.",
    )
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="A model checkpoint folder (OUT/checkpoint).")
    p.add_argument("--input", required=True, metavar="FILE.jsonl", help="Records to label ('-' for stdin).")
    p.add_argument("--batch-size", type=int, default=64, help="Inference batch size (default: 64).")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto).")
    p.set_defaults(func=run)


def read_jsonl(path: str) -> list:
    fh = sys.stdin if path == "-" else open(path, encoding="utf-8")
    records = []
    with fh:
        for n, line in enumerate(fh):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"line {n + 1} is not valid JSON: {exc.msg}", len(records)) from None
    if not records:
        raise DataError(path, "no records in file")
    return records


def run(args) -> int:
    from selfre.predict import Predictor

    records = read_jsonl(args.input)
    predictor = Predictor(args.checkpoint, device=args.device, batch_size=args.batch_size)
    for pred in predictor.predict(records, source=args.input):
        print(json.dumps({"id": pred.id, "label": pred.label, "probability": round(pred.probability, 6)}))
    return 0
