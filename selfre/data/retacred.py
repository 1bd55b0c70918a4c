"""Build Re-TACRED from a TACRED copy and the public Re-TACRED patch (Stoica et al., AAAI 2021).

The patch (https://github.com/gstoica27/Re-TACRED) holds `{split}_id2label.json` = {TACRED id:
Re-TACRED label} and no text, which is why it can be public while TACRED (LDC2018T24) is not. Per split,
records whose id is in the patch are kept with the patched label; the others were removed by the
Re-TACRED authors and are dropped. Records are written back whole (stanford_* fields included), so
the output is an ordinary TACRED-format folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfre.data.labels import RETACRED
from selfre.data.source import bad_utf8, load_json, load_json_array, read_text, record_id_of
from selfre.data.tacred import SPLIT_FILES
from selfre.errors import ConfigError, DataError


def patch_file(patch_dir: str | Path, split: str) -> Path:
    return Path(patch_dir) / f"{split}_id2label.json"


def load_patch(path: Path) -> dict[str, str]:
    """{id: label}, every label checked against the Re-TACRED label set."""
    data = load_json(path, read_text(path))
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object {tacred_id: label}")
    for index, (rid, label) in enumerate(data.items()):
        if not isinstance(label, str) or bad_utf8(label) or bad_utf8(rid):
            raise DataError(path, "label must be a valid UTF-8 string", index, rid)
        RETACRED.check(label, path, index, rid)
    return data


def apply_patch(tacred_dir: str | Path, patch_dir: str | Path, out_dir: str | Path) -> dict[str, dict[str, int]]:
    """Write `{out_dir}/{split}.json` for train/dev/test; return per-split counts.

    Counts: `read` TACRED records, `kept`, `dropped` (id absent from the patch), `relabelled` (kept
    with a label different from TACRED's), `patch_unmatched` (patch ids with no TACRED record: 0 on
    the full corpus; non-zero means the TACRED copy is partial or a different version).
    """
    tacred_dir, patch_dir, out_dir = Path(tacred_dir), Path(patch_dir), Path(out_dir)
    if out_dir.resolve() == tacred_dir.resolve():
        raise ConfigError(f"--out {out_dir} is the TACRED folder itself; choose another folder so TACRED is kept")
    # Read and check everything before writing anything, so a bad input leaves no half-built folder.
    plans = {}
    for split, name in SPLIT_FILES.items():
        source, patch_path = tacred_dir / name, patch_file(patch_dir, split)
        records, patch = load_json_array(source), load_patch(patch_path)
        for index, record in enumerate(records):
            rid = record_id_of(record)
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                raise DataError(source, "record needs a string 'id'", index, rid)
            if not isinstance(record.get("relation"), str):
                raise DataError(source, "record needs a string 'relation'", index, rid)
            where = bad_utf8(record)
            if where:
                raise DataError(source, where, index, rid)
        plans[split] = (records, patch)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, (records, patch) in plans.items():
        kept = [{**r, "relation": patch[r["id"]]} for r in records if r["id"] in patch]
        matched = {r["id"] for r in records} & patch.keys()
        counts[split] = {
            "read": len(records),
            "kept": len(kept),
            "dropped": len(records) - len(kept),
            "relabelled": sum(r["relation"] != patch[r["id"]] for r in records if r["id"] in patch),
            "patch_unmatched": len(patch) - len(matched),
        }
        (out_dir / SPLIT_FILES[split]).write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    return counts
