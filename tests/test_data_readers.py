"""Readers and `load_splits` on fixtures written to tmp_path; real-file checks marked shared_data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from shared_data import require_shared

from selfre.config import DataConfig
from selfre.data import load_splits
from selfre.data.datasets import describe_expected_layout
from selfre.data.jsonl import read_jsonl
from selfre.data.labels import SEMEVAL, TACRED
from selfre.data.ptb import unescape_tokens
from selfre.data.retacred import apply_patch
from selfre.data.semeval import carve_dev, read_semeval, tokenize_tagged
from selfre.data.tacred import read_tacred
from selfre.errors import ConfigError, DataError

# --------------------------------------------------------------------------- fixtures


def tacred_record(rid: str, relation: str = "no_relation", **overrides) -> dict:
    record = {
        "id": rid,
        "relation": relation,
        "token": ["Bill", "Gates", "-LRB-", "born", "1955", "-RRB-", "founded", "Microsoft", "."],
        "subj_start": 0,
        "subj_end": 1,
        "obj_start": 7,
        "obj_end": 7,
        "subj_type": "PERSON",
        "obj_type": "ORGANIZATION",
        "stanford_pos": ["NNP"] * 9,
        "stanford_ner": ["O"] * 9,  # extra fields must be ignored
    }
    record.update(overrides)
    return record


def write_tacred(folder: Path, **splits: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "dev", "test"):
        records = splits.get(split, [tacred_record(f"{split}1", "org:founded_by"), tacred_record(f"{split}2")])
        (folder / f"{split}.json").write_text(json.dumps(records), encoding="utf-8")
    return folder


def semeval_block(number: int, sentence: str, label: str) -> str:
    return f'{number}\t"{sentence}"\r\n{label}\r\nComment: a note\r\n\r\n'


SEMEVAL_TRAIN = [
    (1, "The <e1>author</e1> of a keygen uses a <e2>disassembler</e2>.", "Instrument-Agency(e2,e1)"),
    (2, "<e1>People</e1> have been moving back into <e2>downtown</e2>.", "Entity-Destination(e1,e2)"),
    (3, "The <e2>factory</e2>'s products included <e1>flower pots</e1>, pans.", "Product-Producer(e1,e2)"),
    (4, "The<e1>staff</e1> in the <e2>shop</e2> are left-handed.", "Other"),
]


def write_semeval(folder: Path, n_train: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    train = "".join(semeval_block(i + 1, *SEMEVAL_TRAIN[i % 4][1:]) for i in range(n_train))
    (folder / "TRAIN_FILE.TXT").write_bytes(train.encode())
    test = semeval_block(8001, "A <e1>ridge</e1> rises from the <e2>surge</e2>.", "Other")
    (folder / "TEST_FILE_FULL.TXT").write_bytes(test.encode())
    return folder


def jsonl_line(relation: str, h=(0, 2), t=(5, 6), **extra) -> str:
    record = {
        "token": ["Bill", "Gates", "-LRB-", "CEO", "-RRB-", "Microsoft", "."],
        "h": {"name": "Bill Gates", "pos": list(h)},
        "t": {"name": "Microsoft", "pos": list(t)},
        "relation": relation,
        **extra,
    }
    return json.dumps(record)


def write_jsonl(folder: Path, names=("train.txt", "val.txt", "test.txt"), lines=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    default = [jsonl_line("founder"), jsonl_line("NA")]
    for name in names:
        (folder / name).write_text("\n".join((lines or {}).get(name, default)) + "\n", encoding="utf-8")
    return folder


def load(dataset: str, folder: Path, **kw):
    return load_splits(DataConfig(dataset=dataset, data_dir=str(folder), **kw))


def assert_names(exc: DataError, path: Path, index: int | None, rid: str | None) -> None:
    message = str(exc.value)
    assert str(path) in message
    if index is not None:
        assert f"record {index}" in message
    if rid is not None:
        assert f"id={rid}" in message


# --------------------------------------------------------------------------- PTB


def test_ptb_unescape_maps_brackets_and_quotes():
    tokens = ["-LRB-", "a", "-RRB-", "-LSB-", "-RSB-", "-LCB-", "-RCB-", "``", "hi", "''", "`", "'s", "-lrb-"]
    assert unescape_tokens(tokens) == ("(", "a", ")", "[", "]", "{", "}", '"', "hi", '"', "'", "'s", "(")


# --------------------------------------------------------------------------- TACRED


def test_tacred_reader_maps_ptb_and_keeps_inclusive_spans(tmp_path):
    folder = write_tacred(tmp_path / "t")
    records = read_tacred(folder / "train.json", TACRED).records
    rec = records[0]
    assert rec.id == "train1" and rec.relation == "org:founded_by"
    assert rec.tokens[2] == "(" and rec.tokens[5] == ")"
    assert rec.subj_tokens == ("Bill", "Gates") and rec.obj_tokens == ("Microsoft",)
    assert (rec.subj_type, rec.obj_type) == ("PERSON", "ORGANIZATION")


def test_load_splits_tacred_info(tmp_path):
    splits = load("tacred", write_tacred(tmp_path / "t"))
    assert [len(splits.train), len(splits.dev), len(splits.test)] == [2, 2, 2]
    assert splits.label_set is TACRED
    assert splits.info["counts"] == {"train": 2, "dev": 2, "test": 2}
    assert splits.info["skipped"] == {"train": 0, "dev": 0, "test": 0}
    assert set(splits.info["sha256"]) == set(splits.info["files"].values())


BAD_TACRED = {
    "null field": (tacred_record("bad", subj_type=None), "field 'subj_type' must be a string, got null"),
    "absent field": ({k: v for k, v in tacred_record("bad").items() if k != "token"}, "missing field 'token'"),
    "wrong type": (tacred_record("bad", subj_start="0"), "field 'subj_start' must be an integer"),
    "bool span": (tacred_record("bad", subj_start=True), "must be an integer"),
    "span out of range": (tacred_record("bad", obj_start=20, obj_end=21), "out of range"),
    "overlapping spans": (tacred_record("bad", obj_start=1, obj_end=2), "overlaps"),
    "reversed span": (tacred_record("bad", subj_start=1, subj_end=0), "out of range"),
    "empty tokens": (tacred_record("bad", token=[]), "empty token list"),
    "empty relation": (tacred_record("bad", relation=""), "empty relation"),
}


@pytest.mark.parametrize("case", sorted(BAD_TACRED))
@pytest.mark.parametrize("split", ["train", "test"])
def test_bad_tacred_record_names_file_index_id(tmp_path, case, split):
    bad, reason = BAD_TACRED[case]
    folder = write_tacred(tmp_path / "t", **{split: [tacred_record("ok1"), bad]})
    with pytest.raises(DataError, match=reason) as exc:
        load("tacred", folder)
    assert_names(exc, folder / f"{split}.json", 1, "bad")


@pytest.mark.parametrize("split", ["train", "dev", "test"])
def test_unknown_label_is_an_error_in_every_split_of_a_canonical_set(tmp_path, split):
    folder = write_tacred(tmp_path / "t", **{split: [tacred_record("a1"), tacred_record("a2", "per:favourite_colour")]})
    with pytest.raises(DataError, match="unknown label 'per:favourite_colour'") as exc:
        load("tacred", folder)
    assert_names(exc, folder / f"{split}.json", 1, "a2")


def test_retacred_labels_are_not_tacred_labels(tmp_path):
    folder = write_tacred(tmp_path / "t", dev=[tacred_record("d1", "per:identity")])
    with pytest.raises(DataError, match="per:identity"):
        load("tacred", folder)
    assert load(
        "retacred",
        write_tacred(tmp_path / "r", **{s: [tacred_record("x", "per:identity")] for s in ("train", "dev", "test")}),
    )


def test_invalid_utf8_names_the_record(tmp_path):
    folder = write_tacred(tmp_path / "t")
    text = json.dumps(
        [
            tacred_record("ok"),
            tacred_record("bad8", token=["Bill", "G\u00e9", "x", "y", "z", "w", "v", "Microsoft", "."]),
        ],
        ensure_ascii=False,
    )
    (folder / "dev.json").write_bytes(text.encode("utf-8").replace("G\u00e9".encode(), b"G\xe9"))  # latin-1 byte
    with pytest.raises(DataError, match=r"invalid UTF-8 \(byte 0xe9\) in 'token'\[1\]") as exc:
        load("tacred", folder)
    assert_names(exc, folder / "dev.json", 1, "bad8")


def test_malformed_json_names_the_broken_record(tmp_path):
    folder = write_tacred(tmp_path / "t")
    good = json.dumps(tacred_record("ok"))
    broken = json.dumps(tacred_record("broken"))[:-30]  # truncated mid-record
    (folder / "test.json").write_text(f"[{good},\n {good},\n {broken}, {good}]", encoding="utf-8")
    with pytest.raises(DataError, match="malformed JSON") as exc:
        load("tacred", folder)
    assert_names(exc, folder / "test.json", 2, "broken")


def test_missing_comma_between_records_is_located(tmp_path):
    folder = write_tacred(tmp_path / "t")
    good = json.dumps(tacred_record("ok"))
    (folder / "train.json").write_text(f"[{good}\n{json.dumps(tacred_record('next'))}]", encoding="utf-8")
    with pytest.raises(DataError, match="expected ',' or ']'") as exc:
        load("tacred", folder)
    assert_names(exc, folder / "train.json", 0, "ok")


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "file is empty"),
        (b"  \n", "file is empty"),
        (b"[]", "no records"),
        (b'{"id": 1}', "expected a JSON array"),
    ],
)
def test_unreadable_files(tmp_path, content, reason):
    folder = write_tacred(tmp_path / "t")
    (folder / "dev.json").write_bytes(content)
    with pytest.raises(DataError, match=reason) as exc:
        load("tacred", folder, skip_bad=True)  # skip_bad skips records, never whole files
    assert_names(exc, folder / "dev.json", None, None)


def test_skip_bad_skips_and_counts(tmp_path, caplog):
    bad = [tacred_record("b1", obj_start=20, obj_end=20), tacred_record("b2", "per:nonsense"), {"id": "b3"}]
    folder = write_tacred(
        tmp_path / "t",
        train=[tacred_record("ok1"), *bad, tacred_record("ok2")],
        test=[tacred_record("t1"), tacred_record("t2", token=[])],
    )
    splits = load("tacred", folder, skip_bad=True)
    assert [r.id for r in splits.train] == ["ok1", "ok2"]
    assert splits.info["skipped"] == {"train": 3, "dev": 0, "test": 1}
    assert "record 1 (id=b1)" in splits.info["skipped_examples"]["train"][0]
    assert "skipped 3 bad record" in caplog.text


def test_skip_bad_with_nothing_left_is_an_error(tmp_path):
    folder = write_tacred(tmp_path / "t", dev=[tacred_record("b", token=[])])
    with pytest.raises(DataError, match=r"no usable records \(all 1 skipped"):
        load("tacred", folder, skip_bad=True)


def test_truncation(tmp_path):
    records = [tacred_record(f"r{i}") for i in range(5)]
    splits = load(
        "tacred",
        write_tacred(tmp_path / "t", train=records, dev=records, test=records),
        max_train_examples=3,
        max_eval_examples=2,
    )
    assert [r.id for r in splits.train] == ["r0", "r1", "r2"]
    assert len(splits.dev) == len(splits.test) == 2
    assert splits.info["records_read"]["train"] == 5 and splits.info["counts"]["train"] == 3


@pytest.mark.parametrize("dataset", ["tacred", "retacred"])
def test_missing_tacred_files_explain_where_to_get_them(tmp_path, dataset):
    folder = write_tacred(tmp_path / "t")
    (folder / "dev.json").unlink()
    with pytest.raises(DataError) as exc:
        load(dataset, folder)
    message = str(exc.value)
    assert str(folder / "dev.json") in message and "LDC2018T24" in message
    assert "https://catalog.ldc.upenn.edu/LDC2018T24" in message and "data_dir/train.json" in message
    assert "LDC2018T24" in describe_expected_layout(dataset)


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="data_dir is not set"):
        load_splits(DataConfig(dataset="tacred"))
    with pytest.raises(ConfigError, match="expected one of"):
        load("conll", tmp_path)
    with pytest.raises(DataError, match="data folder not found"):
        load("semeval", tmp_path / "nope")


# --------------------------------------------------------------------------- SemEval


def test_tokenize_tagged_keeps_spans_exact():
    tokens, e1, e2 = tokenize_tagged("The<e1>staff</e1>'s <e2>mother-in-law</e2>, continuum.")
    assert tokens == ("The", "staff", "'s", "mother-in-law", ",", "continuum", ".")
    assert e1 == (1, 1) and e2 == (3, 3)
    tokens, e1, e2 = tokenize_tagged("A <e2>glued</e2>word and <e1>two words</e1>.")
    assert tokens == ("A", "glued", "word", "and", "two", "words", ".")
    assert e2 == (1, 1) and e1 == (4, 5)


def test_semeval_reader_crlf_and_directions(tmp_path):
    result = read_semeval(write_semeval(tmp_path / "s", 4) / "TRAIN_FILE.TXT", SEMEVAL)
    recs = {r.id: r for r in result.records}
    assert set(recs) == {"1", "2", "3", "4"}
    assert recs["1"].subj_tokens == ("author",) and recs["1"].obj_tokens == ("disassembler",)
    assert recs["1"].relation == "Instrument-Agency(e2,e1)"
    # e1 is the subject even when it comes second in the sentence.
    assert recs["3"].subj_tokens == ("flower", "pots") and recs["3"].obj_tokens == ("factory",)
    assert recs["3"].tokens[:3] == ("The", "factory", "'s")
    assert recs["4"].tokens[:2] == ("The", "staff") and recs["4"].subj_type is None
    assert all(not t.endswith("\r") for r in recs.values() for t in r.tokens)


@pytest.mark.parametrize(
    "sentence,label,reason",
    [
        ("No tags <e1>here</e1> at all.", "Other", "expected one <e1>"),
        ("Nested <e1>a <e2>b</e2></e1>.", "Other", "expected one <e1>"),
        ("Empty <e1></e1> and <e2>x</e2>.", "Other", "encloses no word"),
        ("A <e1>x</e1> and <e2>y</e2>.", "Made-Up(e1,e2)", "unknown label 'Made-Up"),
    ],
)
def test_bad_semeval_record_names_file_index_id(tmp_path, sentence, label, reason):
    folder = write_semeval(tmp_path / "s", 3)
    text = (folder / "TRAIN_FILE.TXT").read_bytes() + semeval_block(77, sentence, label).encode()
    (folder / "TRAIN_FILE.TXT").write_bytes(text)
    with pytest.raises(DataError, match=reason) as exc:
        load("semeval", folder)
    assert_names(exc, folder / "TRAIN_FILE.TXT", 3, "77")


def test_semeval_missing_label_line_blames_the_right_record(tmp_path):
    folder = write_semeval(tmp_path / "s", 2)
    test = '8001\t"A <e1>x</e1> and <e2>y</e2>."\nComment:\n\n' + semeval_block(
        8002, "A <e1>x</e1> <e2>y</e2>", "Other"
    )
    (folder / "TEST_FILE_FULL.TXT").write_text(test)
    with pytest.raises(DataError, match="missing the label line") as exc:
        load("semeval", folder)
    assert_names(exc, folder / "TEST_FILE_FULL.TXT", 0, "8001")
    assert len(load("semeval", folder, skip_bad=True).test) == 1


def test_semeval_dev_carve_out(tmp_path):
    folder = write_semeval(tmp_path / "s", 40)
    a = load("semeval", folder, semeval_dev_fraction=0.25, semeval_dev_seed=5)
    b = load("semeval", folder, semeval_dev_fraction=0.25, semeval_dev_seed=5)
    c = load("semeval", folder, semeval_dev_fraction=0.25, semeval_dev_seed=6)
    assert len(a.dev) == 10 and len(a.train) == 30
    train_ids, dev_ids = {r.id for r in a.train}, {r.id for r in a.dev}
    assert not train_ids & dev_ids and len(train_ids | dev_ids) == 40
    assert [r.id for r in a.dev] == [r.id for r in b.dev] == a.info["semeval_dev"]["ids"]
    assert a.info["semeval_dev"]["ids"] != c.info["semeval_dev"]["ids"]
    assert a.info["semeval_dev"]["seed"] == 5 and a.info["semeval_dev"]["fraction"] == 0.25
    assert a.info["files"]["dev"] == a.info["files"]["train"]
    assert a.label_set is SEMEVAL and [r.id for r in a.test] == ["8001"]


def test_carve_dev_depends_only_on_ids_and_seed(tmp_path):
    records = read_semeval(write_semeval(tmp_path / "s", 40) / "TRAIN_FILE.TXT").records
    _, dev = carve_dev(records, 0.2, 1)
    _, dev_reversed = carve_dev(records[::-1], 0.2, 1)
    assert {r.id for r in dev} == {r.id for r in dev_reversed}
    with pytest.raises(ConfigError):
        carve_dev(records, 1.0, 1)


def test_semeval_archive_subfolders(tmp_path):
    folder = write_semeval(tmp_path / "s")
    for name, sub in (
        ("TRAIN_FILE.TXT", "SemEval2010_task8_training"),
        ("TEST_FILE_FULL.TXT", "SemEval2010_task8_testing_keys"),
    ):
        (folder / sub).mkdir()
        (folder / name).rename(folder / sub / name)
    assert len(load("semeval", folder).test) == 1
    (folder / "SemEval2010_task8_testing_keys" / "TEST_FILE_FULL.TXT").unlink()
    with pytest.raises(DataError, match="TEST_FILE_FULL.TXT"):
        load("semeval", folder)


# --------------------------------------------------------------------------- JSON lines


@pytest.mark.parametrize("names", [("train.txt", "val.txt", "test.txt"), ("train.jsonl", "dev.jsonl", "test.jsonl")])
def test_jsonl_both_naming_schemes(tmp_path, names):
    splits = load("jsonl", write_jsonl(tmp_path / "j", names), no_relation_label="NA")
    rec = splits.train[0]
    assert rec.subj_tokens == ("Bill", "Gates") and rec.obj_tokens == ("Microsoft",)  # pos end exclusive
    assert rec.id == f"{Path(names[0]).stem}-0" and rec.subj_type is None
    assert splits.label_set.labels == ("NA", "founder") and splits.label_set.no_relation == "NA"
    assert Path(splits.info["files"]["dev"]).name == names[1]


def test_jsonl_keeps_ids_and_types(tmp_path):
    line = json.dumps(
        {
            "id": "x9",
            "token": ["a", "b"],
            "h": {"pos": [0, 1], "type": "PERSON"},
            "t": {"pos": [1, 2], "type": "CITY"},
            "relation": "lives_in",
        }
    )
    path = tmp_path / "test.jsonl"
    path.write_text("\n" + line + "\n\n")
    rec = read_jsonl(path).records[0]
    assert (rec.id, rec.subj_type, rec.obj_type, rec.obj_start, rec.obj_end) == ("x9", "PERSON", "CITY", 1, 1)


def test_jsonl_ambiguous_or_missing_files(tmp_path):
    folder = write_jsonl(tmp_path / "j")
    (folder / "dev.jsonl").write_text(jsonl_line("NA"))
    with pytest.raises(DataError, match="both dev.jsonl and val.txt"):
        load("jsonl", folder)
    (folder / "dev.jsonl").unlink()
    (folder / "val.txt").unlink()
    with pytest.raises(DataError, match="val.txt") as exc:
        load("jsonl", folder)
    assert "OpenNRE" in str(exc.value)


@pytest.mark.parametrize(
    "line,reason",
    [
        ('{"token": ["a"', "malformed JSON"),
        (jsonl_line("NA", h=(0, 0)), "empty span"),
        (jsonl_line("NA", h=(0, 9)), "out of range"),
        (jsonl_line("NA", t=(1, 3)), "overlaps"),
        (json.dumps({"token": ["a", "b"], "h": {"pos": [0, 1]}, "t": {}, "relation": "NA"}), "missing field 't.pos'"),
        (jsonl_line("spouse"), "unknown label 'spouse'"),
    ],
)
def test_bad_jsonl_line_names_file_index_id(tmp_path, line, reason):
    folder = write_jsonl(tmp_path / "j", lines={"test.txt": [jsonl_line("NA"), line]})
    with pytest.raises(DataError, match=reason) as exc:
        load("jsonl", folder, no_relation_label="NA")
    assert_names(exc, folder / "test.txt", 1, None if "malformed" in reason else "test-1")
    assert load("jsonl", folder, no_relation_label="NA", skip_bad=True).info["skipped"]["test"] == 1


def test_jsonl_warns_when_no_relation_label_is_unused(tmp_path, caplog):
    splits = load("jsonl", write_jsonl(tmp_path / "j"))  # corpus says NA, config says no_relation
    assert "no_relation" in splits.label_set.labels and "no training record is labelled" in caplog.text


# --------------------------------------------------------------------------- Re-TACRED patch


def test_retacred_patch_application(tmp_path):
    tacred = write_tacred(
        tmp_path / "tacred",
        train=[tacred_record("a", "per:alternate_names"), tacred_record("b"), tacred_record("c")],
        dev=[tacred_record("d", "org:parents")],
        test=[tacred_record("e"), tacred_record("f")],
    )
    patch = tmp_path / "patch"
    patch.mkdir()
    for split, mapping in {
        "train": {"a": "per:identity", "c": "no_relation", "zz": "per:title"},
        "dev": {"d": "no_relation"},
        "test": {"f": "per:spouse"},
    }.items():
        (patch / f"{split}_id2label.json").write_text(json.dumps(mapping))
    counts = apply_patch(tacred, patch, tmp_path / "out")
    assert counts["train"] == {"read": 3, "kept": 2, "dropped": 1, "relabelled": 1, "patch_unmatched": 1}
    assert counts["test"]["kept"] == 1 and counts["test"]["relabelled"] == 1
    written = json.loads((tmp_path / "out" / "train.json").read_text())
    assert [(r["id"], r["relation"]) for r in written] == [("a", "per:identity"), ("c", "no_relation")]
    assert "stanford_pos" in written[0]  # records are copied whole
    assert load("retacred", tmp_path / "out").label_set.name == "retacred"


def test_retacred_patch_rejects_bad_inputs(tmp_path):
    tacred = write_tacred(tmp_path / "tacred")
    patch = tmp_path / "patch"
    patch.mkdir()
    for split in ("train", "dev", "test"):
        (patch / f"{split}_id2label.json").write_text(json.dumps({f"{split}1": "per:identity"}))
    (patch / "dev_id2label.json").write_text(json.dumps({"dev1": "org:parents"}))  # removed in Re-TACRED
    with pytest.raises(DataError, match="unknown label 'org:parents'") as exc:
        apply_patch(tacred, patch, tmp_path / "out")
    assert_names(exc, patch / "dev_id2label.json", 0, "dev1")
    assert not (tmp_path / "out").exists()  # nothing written on failure
    with pytest.raises(ConfigError, match="TACRED folder itself"):
        apply_patch(tacred, patch, tacred)


# --------------------------------------------------------------------------- real files


@pytest.mark.shared_data
def test_real_tacred_sample():
    folder = require_shared("tacred_sample")
    splits = load("tacred", folder)
    assert [len(splits.train), len(splits.dev), len(splits.test)] == [20, 20, 20]
    tokens = [t for split in ("train", "dev", "test") for r in splits.split(split) for t in r.tokens]
    assert not {"-LRB-", "-RRB-", "``", "''"} & set(tokens)
    raw = [
        t for s in ("train", "dev", "test") for r in json.loads((folder / f"{s}.json").read_text()) for t in r["token"]
    ]
    assert raw.count("-LRB-") == tokens.count("(") - raw.count("(") > 0


@pytest.mark.shared_data
def test_real_semeval():
    folder = require_shared("semeval2010_task8")
    splits = load("semeval", folder)
    assert len(splits.train) + len(splits.dev) == 8000 and len(splits.dev) == 800
    assert len(splits.test) == 2717
    for split in ("train", "dev", "test"):
        assert {r.relation for r in splits.split(split)} <= set(SEMEVAL.labels)
    assert {r.relation for r in splits.train + splits.dev} == set(SEMEVAL.labels)
    assert {r.relation for r in splits.test} == set(SEMEVAL.labels)
    assert [r.id for r in splits.test[:2]] == ["8001", "8002"]
    # Label counts agree with the file's label lines, read independently.
    lines = (folder / "TEST_FILE_FULL.TXT").read_text(encoding="utf-8").splitlines()
    expected = Counter(lines[i + 1].strip() for i, line in enumerate(lines) if line[:1].isdigit())
    assert Counter(r.relation for r in splits.test) == expected


@pytest.mark.shared_data
def test_real_retacred_patch_on_tacred_sample(tmp_path):
    tacred, patch = require_shared("tacred_sample"), require_shared("retacred_patch")
    counts = apply_patch(tacred, patch, tmp_path / "re")
    splits = load("retacred", tmp_path / "re")
    for split in ("train", "dev", "test"):
        records = json.loads((tacred / f"{split}.json").read_text())
        mapping = json.loads((patch / f"{split}_id2label.json").read_text())
        kept = [r for r in records if r["id"] in mapping]
        assert counts[split]["kept"] == len(kept) == len(splits.split(split))
        assert counts[split]["dropped"] == len(records) - len(kept)
        assert [r.relation for r in splits.split(split)] == [mapping[r["id"]] for r in kept]
        assert counts[split]["relabelled"] == sum(mapping[r["id"]] != r["relation"] for r in kept)
