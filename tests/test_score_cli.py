"""`selfre score` on files written to tmp_path, in both official-scorer layouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfre.cli import main

# The hand-counted cases of tests/test_metrics.py, restated so the test modules stay independent.
NR = "no_relation"
GOLD = [
    "per:title",
    "per:title",
    "org:founded_by",
    NR,
    NR,
    "per:spouse",
    "per:spouse",
    "org:city_of_headquarters",
    NR,
    "per:city_of_birth",
]
PRED = ["per:title", NR, "org:founded_by", NR, "per:spouse", "per:spouse", "per:title", NR, NR, "per:city_of_birth"]
SE_GOLD = [
    "Cause-Effect(e1,e2)",
    "Cause-Effect(e1,e2)",
    "Cause-Effect(e2,e1)",
    "Component-Whole(e1,e2)",
    "Component-Whole(e2,e1)",
    "Other",
    "Other",
    "Message-Topic(e1,e2)",
]
SE_PRED = [
    "Cause-Effect(e1,e2)",
    "Cause-Effect(e2,e1)",
    "Cause-Effect(e2,e1)",
    "Other",
    "Component-Whole(e2,e1)",
    "Component-Whole(e1,e2)",
    "Other",
    "Cause-Effect(e1,e2)",
]

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SEMEVAL_TEST = SHARED_DATA / "semeval2010_task8" / "TEST_FILE_FULL.TXT"


def write(path: Path, lines: list[str], newline: str = "\n") -> Path:
    path.write_bytes("".join(line + newline for line in lines).encode("utf-8"))
    return path


def score(capsys, *args) -> tuple[int, str, str]:
    rc = main(["score", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def tacred_files(tmp_path):
    return write(tmp_path / "gold.txt", GOLD), write(tmp_path / "pred.txt", PRED)


@pytest.fixture
def semeval_files(tmp_path):
    ids = [str(8001 + i) for i in range(len(SE_GOLD))]
    gold = write(tmp_path / "key.txt", [f"{i}\t{lab}" for i, lab in zip(ids, SE_GOLD, strict=True)])
    # Predictions in reverse order, space-separated, CRLF: still paired by id.
    pred = write(
        tmp_path / "answers.txt", [f"{i} {lab}" for i, lab in reversed(list(zip(ids, SE_PRED, strict=True)))], "\r\n"
    )
    return gold, pred


# ---- tacred format ----


def test_tacred_json(capsys, tacred_files):
    rc, out, _ = score(capsys, "--format", "tacred", *tacred_files, "--json")
    assert rc == 0
    m = json.loads(out)  # exactly one JSON object
    # Counts from tests/test_metrics.py: correct 4, guessed 6, gold 7.
    assert (m["precision"], m["recall"], m["f1"]) == (4 / 6, 4 / 7, 8 / 13)
    assert m["per_relation"]["per:title"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert "official_macro_f1" not in m
    # Without --dataset the label set is the labels present in either file.
    assert m["label_set"] == "union" and len(m["per_relation"]) == 6


def test_tacred_dataset_fixes_the_label_set(capsys, tacred_files):
    rc, out, _ = score(capsys, "--format", "tacred", *tacred_files, "--json", "--dataset", "demo")
    m = json.loads(out)
    assert rc == 0 and m["label_set"] == "demo" and len(m["per_relation"]) == 15
    assert m["person_centric"]["f1"] == 4 / 6


def test_tacred_no_relation_flag(capsys, tmp_path):
    gold = write(tmp_path / "g.txt", ["NA", "a", "b"])
    pred = write(tmp_path / "p.txt", ["a", "a", "NA"])
    # no-relation NA: guessed 2 (i0, i1), gold 2 (i1, i2), correct 1 (i1)
    rc, out, _ = score(capsys, "--format", "tacred", gold, pred, "--json", "--no-relation", "NA")
    m = json.loads(out)
    assert rc == 0 and m["no_relation"] == "NA" and m["f1"] == 1 / 2


def test_tacred_human_output(capsys, tacred_files):
    rc, out, _ = score(capsys, "--format", "tacred", *tacred_files)
    assert rc == 0
    assert "Per-relation statistics:" in out
    assert "Precision (micro):  66.667%" in out and "F1 (micro):  61.538%" in out
    assert "Person-centric (labels)" in out


def test_tacred_crlf_and_final_blank_line(capsys, tmp_path):
    gold = write(tmp_path / "g.txt", [*GOLD, ""], "\r\n")
    pred = write(tmp_path / "p.txt", PRED)
    rc, out, _ = score(capsys, "--format", "tacred", gold, pred, "--json")
    assert rc == 0 and json.loads(out)["n"] == 10


def test_tacred_line_count_mismatch_names_both_files(capsys, tmp_path):
    gold = write(tmp_path / "g.txt", GOLD)
    pred = write(tmp_path / "p.txt", PRED[:7])
    rc, _, err = score(capsys, "--format", "tacred", gold, pred)
    assert rc == 2
    assert str(gold) in err and str(pred) in err and "line 8" in err and "7 labels" in err and "10" in err


def test_tacred_unknown_label_for_dataset(capsys, tmp_path):
    gold = write(tmp_path / "g.txt", GOLD)
    pred = write(tmp_path / "p.txt", PRED[:3] + ["per:nonsense"] + PRED[4:])
    rc, _, err = score(capsys, "--format", "tacred", gold, pred, "--dataset", "demo")
    assert rc == 2 and str(pred) in err and "line 4" in err and "'per:nonsense'" in err


def test_tacred_empty_line_is_an_error(capsys, tmp_path):
    gold = write(tmp_path / "g.txt", GOLD[:2] + [""] + GOLD[3:])
    rc, _, err = score(capsys, "--format", "tacred", gold, write(tmp_path / "p.txt", PRED))
    assert rc == 2 and "line 3: empty label" in err


# ---- semeval format ----


def test_semeval_json(capsys, semeval_files):
    rc, out, _ = score(capsys, "--format", "semeval", *semeval_files, "--json")
    assert rc == 0
    m = json.loads(out)
    # Hand-computed in tests/test_metrics.py: macro F1 = (4/7 + 1/2 + 0)/3 = 5/14, micro 3/6.
    assert m["official_macro_f1"] == pytest.approx(5 / 14, abs=1e-15)
    assert m["micro_f1"] == 1 / 2
    assert m["per_type"]["Cause-Effect"]["wrong_direction"] == 1
    # 19-way micro, Other excluded: correct 3 / guessed 6 / gold 6
    assert (m["precision"], m["recall"], m["f1"]) == (1 / 2, 1 / 2, 1 / 2)
    assert "Cause-Effect(e1,e2)" in m["per_relation"]


def test_semeval_human_output_has_official_line(capsys, semeval_files):
    rc, out, _ = score(capsys, "--format", "semeval", *semeval_files)
    assert rc == 0
    assert "(9+1)-WAY EVALUATION TAKING DIRECTIONALITY INTO ACCOUNT -- OFFICIAL" in out
    # CE: 2 correct / (3 proposed with the right direction or another type + 1 wrong direction)
    assert "Cause-Effect :    P =    2/(   3 +   1) =  50.00%" in out
    assert "macro-averaged F1 = 35.71% >>>" in out  # 5/14


def test_semeval_missing_id(capsys, tmp_path, semeval_files):
    gold, _ = semeval_files
    pred = write(tmp_path / "p.txt", [f"{8001 + i}\t{lab}" for i, lab in enumerate(SE_PRED) if i != 2])
    rc, _, err = score(capsys, "--format", "semeval", gold, pred)
    assert rc == 2 and "id 8003" in err and str(gold) in err and str(pred) in err and "line 3" in err


def test_semeval_extra_id(capsys, tmp_path, semeval_files):
    gold, _ = semeval_files
    pred = write(tmp_path / "p.txt", [f"{8001 + i}\t{lab}" for i, lab in enumerate(SE_PRED)] + ["9999\tOther"])
    rc, _, err = score(capsys, "--format", "semeval", gold, pred)
    assert rc == 2 and "id 9999" in err and "line 9" in err and str(gold) in err


def test_semeval_duplicate_id(capsys, tmp_path, semeval_files):
    _, pred = semeval_files
    gold = write(tmp_path / "g.txt", [f"{8001 + i}\t{lab}" for i, lab in enumerate(SE_GOLD)] + ["8002\tOther"])
    rc, _, err = score(capsys, "--format", "semeval", gold, pred)
    assert rc == 2 and "duplicate id 8002" in err and "line 9" in err and "first on line 2" in err


def test_semeval_directionless_key_is_rejected_with_a_hint(capsys, tmp_path):
    # TEST_FILE_KEY.TXT's layout: no direction on the labels.
    gold = write(tmp_path / "TEST_FILE_KEY.TXT", ["8001\tMessage-Topic", "8002\tOther"])
    pred = write(tmp_path / "p.txt", ["8001\tMessage-Topic(e1,e2)", "8002\tOther"])
    rc, _, err = score(capsys, "--format", "semeval", gold, pred)
    assert rc == 2 and "'Message-Topic'" in err and "TEST_FILE_FULL.TXT" in err and "id 8001" in err


def test_semeval_malformed_line(capsys, tmp_path, semeval_files):
    gold, _ = semeval_files
    pred = write(tmp_path / "p.txt", ["8001\tOther\textra"])
    rc, _, err = score(capsys, "--format", "semeval", gold, pred)
    assert rc == 2 and "line 1" in err and "ID<TAB>LABEL" in err


def test_semeval_rejects_tacred_only_flags(capsys, semeval_files):
    rc, _, err = score(capsys, "--format", "semeval", *semeval_files, "--dataset", "tacred")
    assert rc == 2 and "--dataset" in err


def test_missing_file(capsys, tmp_path, semeval_files):
    rc, _, err = score(capsys, "--format", "semeval", semeval_files[0], tmp_path / "absent.txt")
    assert rc == 2 and "absent.txt" in err


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["score", "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    for flag in ("--format", "--json", "--dataset", "--no-relation", "GOLD", "PRED"):
        assert flag in out


# ---- the real SemEval-2010 Task 8 test key ----


def directional_key(path: Path) -> list[tuple[str, str]]:
    """(id, label) from TEST_FILE_FULL.TXT: each example is `ID<TAB>"sentence"`, label, Comment:, blank."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(lines[i].split("\t", 1)[0], lines[i + 1].strip()) for i in range(0, len(lines), 4)]


@pytest.mark.shared_data
@pytest.mark.skipif(not SEMEVAL_TEST.is_file(), reason=f"SemEval-2010 Task 8 test file absent: {SEMEVAL_TEST}")
def test_semeval_official_key(capsys, tmp_path):
    key = directional_key(SEMEVAL_TEST)
    assert len(key) == 2717 and len({lab for _, lab in key}) == 19
    key_file = write(tmp_path / "key.txt", [f"{i}\t{lab}" for i, lab in key])

    rc, out, _ = score(capsys, "--format", "semeval", key_file, key_file, "--json")
    m = json.loads(out)
    assert rc == 0 and m["official_macro_f1"] == 1.0 and m["micro_f1"] == 1.0

    # Flip the direction of every Cause-Effect instance (134 (e1,e2) + 194 (e2,e1) = 328): Cause-Effect
    # loses every hit (F1 0) while the 8 other types stay perfect -> official macro-F1 = 8/9. Micro: all
    # 2263 non-Other instances are still guessed and gold under their type, 2263 - 328 = 1935 correct.
    flip = {"(e1,e2)": "(e2,e1)", "(e2,e1)": "(e1,e2)"}
    perturbed = [(i, lab[:-7] + flip[lab[-7:]] if lab.startswith("Cause-Effect") else lab) for i, lab in key]
    pred_file = write(tmp_path / "pred.txt", [f"{i}\t{lab}" for i, lab in perturbed])
    rc, out, _ = score(capsys, "--format", "semeval", key_file, pred_file, "--json")
    m = json.loads(out)
    assert rc == 0
    assert m["official_macro_f1"] == pytest.approx(8 / 9, abs=1e-15)
    assert m["per_type"]["Cause-Effect"]["wrong_direction"] == 328 and m["per_type"]["Cause-Effect"]["f1"] == 0.0
    assert m["micro_f1"] == 1935 / 2263
