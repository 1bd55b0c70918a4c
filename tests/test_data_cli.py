"""`selfre data check | retacred | demo` through `selfre.cli.main`: return codes and output."""

from __future__ import annotations

import json

import pytest
from shared_data import require_shared

from selfre.cli import main


def tacred_record(rid: str, relation: str = "no_relation", **overrides) -> dict:
    record = {
        "id": rid,
        "relation": relation,
        "token": ["Ann", "Lee", "works", "for", "Acme", "."],
        "subj_start": 0,
        "subj_end": 1,
        "obj_start": 4,
        "obj_end": 4,
        "subj_type": "PERSON",
        "obj_type": "ORGANIZATION",
    }
    return record | overrides


def write_tacred(folder, dev_extra=()):
    folder.mkdir()
    for split in ("train", "dev", "test"):
        records = [tacred_record(f"{split}1", "per:employee_of"), tacred_record(f"{split}2")]
        if split == "dev":
            records += list(dev_extra)
        (folder / f"{split}.json").write_text(json.dumps(records))
    return folder


def test_check_prints_split_and_label_tables(tmp_path, capsys):
    folder = write_tacred(tmp_path / "t")
    assert main(["data", "check", "--dataset", "tacred", "--data-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "label set tacred (42 labels)" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["train"][:2] == ["2", "0"] and rows["per:employee_of"] == ["1", "1", "1"]
    assert rows["total"] == ["2", "2", "2"] and rows["per:spouse"] == ["0", "0", "0"]


def test_check_fails_cleanly_and_skip_bad_reports(tmp_path, capsys):
    folder = write_tacred(tmp_path / "t", dev_extra=[tacred_record("oops", "per:unknown")])
    assert main(["data", "check", "--dataset", "tacred", "--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"{folder / 'dev.json'}: record 2 (id=oops): unknown label 'per:unknown'" in err
    assert main(["data", "check", "--dataset", "tacred", "--data-dir", str(folder), "--skip-bad"]) == 0
    out = capsys.readouterr().out
    dev_row = next(line for line in out.splitlines() if line.startswith("dev "))
    assert dev_row.split()[1:3] == ["2", "1"]
    assert "skipped: " in out and "id=oops" in out


def test_check_missing_data_names_layout(tmp_path, capsys):
    assert main(["data", "check", "--dataset", "retacred", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "train.json") in err and "LDC2018T24" in err and "selfre data retacred" in err


def test_check_reads_config_file(tmp_path, capsys):
    folder = write_tacred(tmp_path / "t")
    config = tmp_path / "run.yaml"
    config.write_text(f"data:\n  dataset: tacred\n  data_dir: {folder}\n  max_eval_examples: 1\n")
    assert main(["data", "check", "--config", str(config)]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["dev"][0] == "1" and rows["train"][0] == "2"


def test_demo_then_check(tmp_path, capsys):
    out_dir = tmp_path / "demo"
    assert (
        main(["data", "demo", "--out", str(out_dir), "--seed", "3", "--train", "40", "--dev", "20", "--test", "20"])
        == 0
    )
    assert "wrote 40 train records" in capsys.readouterr().out
    assert len(json.loads((out_dir / "train.json").read_text())) == 40
    assert main(["data", "check", "--dataset", "demo", "--data-dir", str(out_dir)]) == 0
    assert "label set demo (15 labels)" in capsys.readouterr().out
    assert main(["data", "demo", "--out", str(out_dir), "--dev", "0"]) == 2


def test_retacred_command(tmp_path, capsys):
    tacred = write_tacred(tmp_path / "t")
    patch = tmp_path / "p"
    patch.mkdir()
    for split in ("train", "dev", "test"):
        (patch / f"{split}_id2label.json").write_text(
            json.dumps({f"{split}1": "per:employee_of", f"{split}2": "per:identity"})
        )
    (patch / "test_id2label.json").write_text(json.dumps({"test1": "per:title"}))
    assert main(["data", "retacred", "--tacred", str(tacred), "--patch", str(patch), "--out", str(tmp_path / "o")]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["train"] == ["2", "2", "0", "1", "0"] and rows["test"] == ["2", "1", "1", "1", "0"]
    assert main(["data", "check", "--dataset", "retacred", "--data-dir", str(tmp_path / "o")]) == 0


@pytest.mark.parametrize(
    "action,flags",
    [
        ("check", ["--dataset", "--data-dir", "--skip-bad", "--semeval-dev-seed", "--no-relation-label", "LDC2018T24"]),
        ("retacred", ["--tacred", "--patch", "--out"]),
        ("demo", ["--out", "--seed", "--train", "--dev", "--test"]),
    ],
)
def test_help_documents_every_flag(capsys, action, flags):
    with pytest.raises(SystemExit) as exc:
        main(["data", action, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in flags)


@pytest.mark.shared_data
def test_check_real_semeval(capsys):
    folder = require_shared("semeval2010_task8")
    assert main(["data", "check", "--dataset", "semeval", "--data-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "dev = 800 records carved from the train file (fraction 0.1, seed 13)" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["total"] == ["7200", "800", "2717"]
