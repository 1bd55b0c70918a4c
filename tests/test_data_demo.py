"""The synthetic demo corpus: determinism, coverage, TACRED format, and that its labels are learnable."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

import pytest

from selfre.config import DataConfig
from selfre.data import generate_demo, load_splits
from selfre.data.demo import DEFAULT_SIZES, TEMPLATES
from selfre.data.labels import DEMO
from selfre.errors import ConfigError

TACRED_FIELDS = {"id", "relation", "token", "subj_start", "subj_end", "obj_start", "obj_end", "subj_type", "obj_type"}
SPLITS = ("train", "dev", "test")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    generate_demo(folder)
    return folder, load_splits(DataConfig(dataset="demo", data_dir=str(folder)))


def read_bytes(folder):
    return {split: (folder / f"{split}.json").read_bytes() for split in SPLITS}


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    generate_demo(tmp_path / "a", seed=7, n_train=60, n_dev=20, n_test=20)
    generate_demo(tmp_path / "b", seed=7, n_train=60, n_dev=20, n_test=20)
    generate_demo(tmp_path / "c", seed=8, n_train=60, n_dev=20, n_test=20)
    assert read_bytes(tmp_path / "a") == read_bytes(tmp_path / "b")
    a, c = read_bytes(tmp_path / "a"), read_bytes(tmp_path / "c")
    assert all(a[split] != c[split] for split in SPLITS)


def test_split_size_changes_leave_other_splits_alone(tmp_path):
    generate_demo(tmp_path / "a", n_train=60, n_dev=20, n_test=20)
    generate_demo(tmp_path / "b", n_train=90, n_dev=20, n_test=20)
    a, b = read_bytes(tmp_path / "a"), read_bytes(tmp_path / "b")
    assert a["dev"] == b["dev"] and a["test"] == b["test"] and a["train"] != b["train"]


def test_default_sizes_and_tacred_format(demo):
    folder, splits = demo
    for split in SPLITS:
        raw = json.loads((folder / f"{split}.json").read_text(encoding="utf-8"))
        assert len(raw) == DEFAULT_SIZES[split] == len(splits.split(split))
        assert all(set(r) == TACRED_FIELDS for r in raw)
        assert all(t and not any(c.isspace() for c in t) for r in raw for t in r["token"])
    ids = [r.id for split in SPLITS for r in splits.split(split)]
    assert len(ids) == len(set(ids))
    assert splits.label_set is DEMO and splits.info["skipped"] == {s: 0 for s in SPLITS}


def test_every_label_in_every_split_and_person_centric_rich(demo):
    _, splits = demo
    for split in SPLITS:
        assert {r.relation for r in splits.split(split)} == set(DEMO.labels)
    assert len(DEMO.person_centric) >= 8
    share = Counter(r.relation for r in splits.train)
    assert 0.2 < share[DEMO.no_relation] / len(splits.train) < 0.4


def test_entity_types_are_tacreds(demo):
    _, splits = demo
    types = Counter(t for r in splits.train for t in (r.subj_type, r.obj_type))
    assert set(types) == {"PERSON", "ORGANIZATION", "CITY", "DATE", "TITLE"}
    person_relations = {r.relation for r in splits.train if r.subj_type == "PERSON"}
    assert {"per:spouse", "per:title", "per:employee_of"} <= person_relations


def test_templates_are_varied_and_unambiguous():
    assert set(TEMPLATES) == set(DEMO.labels)
    assert all(len(templates) >= 3 for templates in TEMPLATES.values())
    object_first = {
        label for label, ts in TEMPLATES.items() if any(t.text.index("{O}") < t.text.index("{S}") for t in ts)
    }
    assert len(object_first) >= 8
    # The same sentence (with its marked roles and entity kinds) must never carry two labels.
    seen = {}
    for label, templates in TEMPLATES.items():
        for t in templates:
            assert seen.setdefault(t, label) == label, f"{t} is both {seen[t]} and {label}"


def test_confusable_pairs_share_frames():
    def frames(label):
        return {t.text for t in TEMPLATES[label]}

    swapped = {t.replace("{S}", "{tmp}").replace("{O}", "{S}").replace("{tmp}", "{O}") for t in frames("per:parents")}
    assert len(swapped & frames("per:children")) >= 3
    ceo = [frames(label) for label in ("per:employee_of", "org:top_members/employees", "per:title")]
    assert all(any(", the {" in t and "announced the deal" in t for t in f) for f in ceo)


def test_labels_are_learnable_from_text(demo):
    """A naive Bayes over cue words around the marked pair must already score high (it gets ~0.99)."""
    _, splits = demo

    def features(r):
        (a0, a1, a), (b0, b1, b) = sorted([(r.subj_start, r.subj_end, "S"), (r.obj_start, r.obj_end, "O")])
        order = a + b
        return (
            [f"types:{r.subj_type}>{r.obj_type}", f"order:{order}"]
            + [f"between:{order}:{w.lower()}" for w in r.tokens[a1 + 1 : b0]]
            + [f"before:{w.lower()}" for w in r.tokens[max(0, a0 - 2) : a0]]
        )

    prior, counts = Counter(r.relation for r in splits.train), defaultdict(Counter)
    for r in splits.train:
        counts[r.relation].update(features(r))
    vocab = len({f for c in counts.values() for f in c})

    def predict(r):
        def score(label):
            total = sum(counts[label].values()) + 0.1 * vocab
            return math.log(prior[label]) + sum(math.log((counts[label][f] + 0.1) / total) for f in features(r))

        return max(prior, key=score)

    gold = [r.relation for r in splits.dev]
    pred = [predict(r) for r in splits.dev]
    tp = sum(p == g != "no_relation" for p, g in zip(pred, gold, strict=True))
    precision = tp / sum(p != "no_relation" for p in pred)
    recall = tp / sum(g != "no_relation" for g in gold)
    assert 2 * precision * recall / (precision + recall) > 0.9


def test_load_splits_generates_missing_demo(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    splits = load_splits(DataConfig(dataset="demo"))  # data_dir unset -> ./demo_data
    assert (tmp_path / "demo_data" / "train.json").is_file()
    assert len(splits.train) == DEFAULT_SIZES["train"]
    before = (tmp_path / "demo_data" / "dev.json").stat().st_mtime_ns
    load_splits(DataConfig(dataset="demo", data_dir="demo_data"))
    assert (tmp_path / "demo_data" / "dev.json").stat().st_mtime_ns == before  # read, not regenerated
    assert not list((tmp_path / "demo_data").glob(".*tmp"))


def test_sizes_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="dev size"):
        generate_demo(tmp_path, n_dev=0)
