"""`info["digests"]`: a content digest of the records each split *used* (after max_*_examples and SemEval's
dev carve-out) — what the registry compares before it lets one dev score beat another."""

from __future__ import annotations

from test_data_readers import load, tacred_record, write_semeval, write_tacred

from selfre.data.digest import records_digest
from selfre.data.record import RelationRecord

RECORD = RelationRecord(
    "r1", ("Bill", "Gates", "founded", "Microsoft"), 0, 1, 3, 3, "org:founded_by", "PERSON", "ORGANIZATION"
)
OTHER = RelationRecord("r2", ("Alice", "works", "at", "Acme"), 0, 0, 3, 3, "no_relation", "PERSON", "ORGANIZATION")


def test_digest_is_of_the_records_not_their_order():
    # The canonical form, pinned: a change here silently makes every registered version incomparable.
    assert records_digest([RECORD]) == "94b072a09b66f3c9ca74960fa3e102cb69a02b5e43c245b4f8c8476912ceb256"
    assert records_digest([RECORD, OTHER]) == records_digest([OTHER, RECORD])
    assert records_digest([RECORD, OTHER]) != records_digest([RECORD])
    relabelled = RelationRecord(**{**RECORD.__dict__, "relation": "no_relation"})
    assert records_digest([relabelled]) != records_digest([RECORD])
    assert len(records_digest([])) == 64


def test_split_digests_follow_the_records_used(tmp_path):
    dev = [tacred_record(f"d{i}", "org:founded_by" if i % 2 else "no_relation") for i in range(3)]
    folder = write_tacred(tmp_path / "t", dev=dev)
    full, cut = load("tacred", folder), load("tacred", folder, max_eval_examples=2)
    assert set(full.info["digests"]) == {"train", "dev", "test"}
    assert full.info["digests"]["dev"] == records_digest(full.dev) and len(full.dev) == 3
    assert cut.info["digests"]["dev"] == records_digest(full.dev[:2]) != full.info["digests"]["dev"]
    assert cut.info["digests"]["train"] == full.info["digests"]["train"]
    assert cut.info["sha256"] == full.info["sha256"]  # the files alone cannot tell the two dev sets apart


def test_semeval_dev_digest_follows_the_carve_out(tmp_path):
    folder = write_semeval(tmp_path / "s", 40)
    a, b = load("semeval", folder, semeval_dev_seed=1), load("semeval", folder, semeval_dev_seed=2)
    assert a.info["sha256"] == b.info["sha256"]
    assert a.info["digests"]["dev"] == records_digest(a.dev) != b.info["digests"]["dev"]
    assert a.info["digests"]["train"] == records_digest(a.train)  # the carved-out train, not TRAIN_FILE whole
    assert a.info["digests"]["test"] == b.info["digests"]["test"]
