"""Metrics on hand-counted examples: every expected number is worked out in the comments."""

from __future__ import annotations

import json

import pytest

from selfre.data.labels import DEMO, SEMEVAL, TACRED, LabelSet
from selfre.metrics import (
    compute_metrics,
    confusion,
    is_semeval,
    micro_prf,
    per_relation,
    person_centric,
    person_typed,
    relation_type,
    semeval_scores,
)

NR = "no_relation"

# A 10-instance TACRED-style case (labels from the DEMO set, which uses TACRED names).
#  i  gold                      pred                      subj / obj type
#  0  per:title                 per:title                 PERSON / TITLE          correct
#  1  per:title                 no_relation               PERSON / TITLE          missed
#  2  org:founded_by            org:founded_by            ORGANIZATION / PERSON   correct
#  3  no_relation               no_relation               ORGANIZATION / DATE     -
#  4  no_relation               per:spouse                PERSON / PERSON         false guess
#  5  per:spouse                per:spouse                PERSON / PERSON         correct
#  6  per:spouse                per:title                 PERSON / TITLE          wrong relation
#  7  org:city_of_headquarters  no_relation               ORGANIZATION / CITY     missed
#  8  no_relation               no_relation               ORGANIZATION / ORG      -
#  9  per:city_of_birth         per:city_of_birth         MISC / CITY             correct
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
SUBJ = [
    "PERSON",
    "PERSON",
    "ORGANIZATION",
    "ORGANIZATION",
    "PERSON",
    "PERSON",
    "PERSON",
    "ORGANIZATION",
    "ORGANIZATION",
    "MISC",
]
OBJ = ["TITLE", "TITLE", "PERSON", "DATE", "PERSON", "PERSON", "TITLE", "CITY", "ORGANIZATION", "CITY"]


def test_micro_prf_hand_counted():
    # guessed = pred != no_relation: 0 2 4 5 6 9 -> 6; gold = gold != no_relation: 0 1 2 5 6 7 9 -> 7;
    # correct = pred == gold != no_relation: 0 2 5 9 -> 4.
    m = micro_prf(GOLD, PRED, NR)
    assert (m["correct"], m["guessed"], m["gold"]) == (4, 6, 7)
    assert m["precision"] == 4 / 6
    assert m["recall"] == 4 / 7
    assert m["f1"] == 8 / 13  # 2PR/(P+R) = 2*4/(6+7)


def test_micro_prf_uses_the_given_no_relation_label():
    # With "Other" as the no-relation label, "no_relation" is an ordinary relation:
    # guessed 10, gold 10, correct 6 (0 2 3 5 8 9).
    m = micro_prf(GOLD, PRED, "Other")
    assert (m["correct"], m["guessed"], m["gold"]) == (6, 10, 10)


def test_all_no_relation_predictions_score_zero_not_undefined():
    # Nothing guessed: P = 0/0 is defined as 0 (not the TACRED scorer's 1.0); R = 0/7; F1 = 0.
    m = micro_prf(GOLD, [NR] * len(GOLD), NR)
    assert (m["precision"], m["recall"], m["f1"], m["guessed"]) == (0.0, 0.0, 0.0, 0)


def test_empty_input_scores_zero():
    assert micro_prf([], [], NR)["f1"] == 0.0


def test_per_relation_scores_and_support():
    pr = per_relation(GOLD, PRED, DEMO.labels)
    assert list(pr) == list(DEMO.labels)  # every label, in the label set's order
    # per:title: correct 1 (i0), guessed 2 (i0, i6), gold 2 (i0, i1)
    assert pr["per:title"] == {"precision": 1 / 2, "recall": 1 / 2, "f1": 1 / 2, "support": 2}
    # org:founded_by: 1 correct, 1 guessed, 1 gold
    assert pr["org:founded_by"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    # per:spouse: correct 1 (i5), guessed 2 (i4, i5), gold 2 (i5, i6)
    assert pr["per:spouse"]["f1"] == 1 / 2
    # org:city_of_headquarters: only missed
    assert pr["org:city_of_headquarters"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # no_relation is scored too: correct 2 (i3, i8), guessed 4 (i1 i3 i7 i8), gold 3 (i3 i4 i8)
    assert pr[NR] == {"precision": 2 / 4, "recall": 2 / 3, "f1": 4 / 7, "support": 3}
    # absent label: support 0, all zero
    assert pr["per:children"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_person_centric_by_label():
    # DEMO person-centric = per:* + org:founded_by + org:top_members/employees; org:city_of_headquarters is not.
    # guessed with a PC label: i0 i2 i4 i5 i6 i9 -> 6; gold with a PC label: i0 i1 i2 i5 i6 i9 -> 6 (i7 excluded);
    # correct: i0 i2 i5 i9 -> 4.
    pc = person_centric(GOLD, PRED, DEMO)
    assert pc["scope"] == "labels" and "note" not in pc
    assert (pc["correct"], pc["guessed"], pc["gold"]) == (4, 6, 6)
    assert pc["precision"] == pc["recall"] == pc["f1"] == 4 / 6


def test_person_centric_by_entity_type():
    # Instances with a PERSON subject or object: i0 i1 i2 i4 i5 i6 (i9's subject is MISC).
    # guessed: i0 i2 i4 i5 i6 -> 5; gold: i0 i1 i2 i5 i6 -> 5; correct: i0 i2 i5 -> 3.
    pt = person_typed(GOLD, PRED, SUBJ, OBJ, NR)
    assert pt["scope"] == "entity_types" and pt["instances"] == 6
    assert (pt["correct"], pt["guessed"], pt["gold"]) == (3, 5, 5)
    assert pt["f1"] == 3 / 5


def test_person_typed_rejects_misaligned_types():
    with pytest.raises(ValueError, match="subject types"):
        person_typed(GOLD, PRED, SUBJ[:-1], OBJ, NR)


# SemEval, (9+1)-way with direction.
#  i  gold                     pred                     counted as
#  0  Cause-Effect(e1,e2)      Cause-Effect(e1,e2)      CE correct
#  1  Cause-Effect(e1,e2)      Cause-Effect(e2,e1)      CE guessed + CE gold, NOT correct (wrong direction)
#  2  Cause-Effect(e2,e1)      Cause-Effect(e2,e1)      CE correct
#  3  Component-Whole(e1,e2)   Other                    CW gold, missed
#  4  Component-Whole(e2,e1)   Component-Whole(e2,e1)   CW correct
#  5  Other                    Component-Whole(e1,e2)   CW guessed, wrong
#  6  Other                    Other                    -
#  7  Message-Topic(e1,e2)     Cause-Effect(e1,e2)      MT gold missed; CE guessed, wrong
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


def test_relation_type_strips_direction_only():
    assert relation_type("Cause-Effect(e2,e1)") == "Cause-Effect"
    assert relation_type("Other") == "Other"


def test_semeval_wrong_direction_counts_as_wrong():
    ce = semeval_scores(SE_GOLD, SE_PRED)["per_type"]["Cause-Effect"]
    # CE: correct 2 (i0, i2), guessed 4 (i0 i1 i2 i7), gold 3 (i0 i1 i2); 1 wrong direction (i1)
    assert (ce["correct"], ce["guessed"], ce["gold"], ce["wrong_direction"]) == (2, 4, 3, 1)
    assert ce["precision"] == 2 / 4 and ce["recall"] == 2 / 3
    assert ce["f1"] == 4 / 7  # 2*2/(4+3)


def test_semeval_official_macro_f1_hand_computed():
    s = semeval_scores(SE_GOLD, SE_PRED)
    # CW: correct 1 (i4), guessed 2 (i4 i5), gold 2 (i3 i4) -> P = R = F1 = 1/2.  MT: 0 correct, 1 gold -> F1 0.
    assert s["per_type"]["Component-Whole"]["f1"] == 1 / 2
    assert s["per_type"]["Message-Topic"]["f1"] == 0.0
    # Like the official scorer, the macro average runs over the non-Other types in the key: CE, CW, MT.
    assert s["types_averaged"] == ["Cause-Effect", "Component-Whole", "Message-Topic"]
    # macro F1 = (4/7 + 1/2 + 0) / 3 = 5/14; macro P = (1/2 + 1/2 + 0)/3 = 1/3; macro R = (2/3 + 1/2 + 0)/3 = 7/18
    assert s["official_macro_f1"] == pytest.approx(5 / 14, abs=1e-15)
    assert s["macro_precision"] == pytest.approx(1 / 3, abs=1e-15)
    assert s["macro_recall"] == pytest.approx(7 / 18, abs=1e-15)
    # micro over CE+CW+MT: correct 3, guessed 4+2+0 = 6, gold 3+2+1 = 6
    assert (s["micro"]["correct"], s["micro"]["guessed"], s["micro"]["gold"]) == (3, 6, 6)
    assert s["micro_f1"] == 1 / 2


def test_semeval_other_is_excluded_from_the_average():
    s = semeval_scores(SE_GOLD, SE_PRED)
    assert "Other" not in s["per_type"] and "Other" not in s["types_averaged"]
    # Ten more correctly rejected Other instances lift Other's own F1 (1/2 -> 11/12) but no relation type's
    # counts, so the official score stays 5/14 (with Other averaged in it would move).
    more = semeval_scores(SE_GOLD + ["Other"] * 10, SE_PRED + ["Other"] * 10)
    assert more["official_macro_f1"] == s["official_macro_f1"]
    assert more["micro_f1"] == s["micro_f1"]


def test_semeval_perfect_prediction_scores_one():
    s = semeval_scores(SE_GOLD, SE_GOLD)
    assert s["official_macro_f1"] == 1.0 and s["micro_f1"] == 1.0


def test_confusion_ranks_labels_by_errors_with_name_tie_break():
    # pairs: a->b x3, b->a x1, c->no_relation x2, no_relation->c x1, a->a x5, d->d x2
    # errors: a 3+1 = 4, b 3+1 = 4, c 2+1 = 3, no_relation 2+1 = 3, d 0 (never confused: left out)
    gold = ["a"] * 3 + ["b"] + ["c"] * 2 + [NR] + ["a"] * 5 + ["d"] * 2
    pred = ["b"] * 3 + ["a"] + [NR] * 2 + ["c"] + ["a"] * 5 + ["d"] * 2
    c = confusion(gold, pred)
    assert c["labels"] == ["a", "b", "c", NR]  # ties 4/4 and 3/3 broken by name
    assert c["errors"] == [4, 4, 3, 3]
    assert c["matrix"] == [
        [5, 3, 0, 0],  # gold a
        [1, 0, 0, 0],  # gold b
        [0, 0, 0, 2],  # gold c
        [0, 0, 1, 0],  # gold no_relation
    ]
    assert [(p["gold"], p["pred"], p["count"]) for p in c["pairs"]] == [
        ("a", "b", 3),
        ("c", NR, 2),
        ("b", "a", 1),
        (NR, "c", 1),
    ]
    assert confusion(gold, pred, top_k=2)["labels"] == ["a", "b"]


def test_confusion_keeps_at_most_20_labels():
    labels = [f"r{i:02d}" for i in range(30)]
    gold, pred = labels, labels[1:] + labels[:1]  # every label wrong once as gold, once as prediction
    c = confusion(gold, pred)
    assert c["labels"] == labels[:20] and len(c["matrix"]) == 20


def test_compute_metrics_tacred_keys_and_values():
    m = compute_metrics(GOLD, PRED, DEMO, SUBJ, OBJ)
    assert m["n"] == 10
    assert (m["precision"], m["recall"], m["f1"]) == (4 / 6, 4 / 7, 8 / 13)
    assert m["per_relation"]["per:title"]["support"] == 2
    assert m["person_centric"]["f1"] == 4 / 6
    assert m["person_typed"]["f1"] == 3 / 5
    assert "semeval" not in m
    # errors: no_relation 3 (i1 i4 i7), per:spouse 2 (i4 i6), per:title 2 (i1 i6), org:city_of_headquarters 1 (i7)
    assert m["confusion"]["labels"] == [NR, "per:spouse", "per:title", "org:city_of_headquarters"]
    json.loads(json.dumps(m))  # plain JSON


def test_compute_metrics_without_types_has_no_typed_variant():
    assert compute_metrics(GOLD, PRED, DEMO)["person_typed"] is None


def test_compute_metrics_semeval():
    m = compute_metrics(SE_GOLD, SE_PRED, SEMEVAL)
    assert is_semeval(SEMEVAL) and not is_semeval(TACRED)
    assert m["semeval"]["official_macro_f1"] == pytest.approx(5 / 14, abs=1e-15)
    # 19-way micro, Other excluded: guessed i0 i1 i2 i4 i5 i7 = 6, gold i0 i1 i2 i3 i4 i7 = 6, correct i0 i2 i4 = 3
    assert m["precision"] == m["recall"] == 1 / 2
    # SemEval has no person types: person-centric covers all categories and says so.
    pc = m["person_centric"]
    assert pc["scope"] == "all" and "Table 6" in pc["note"] and pc["f1"] == m["f1"]
    json.loads(json.dumps(m))


def test_semeval_detected_by_labels_under_another_name():
    renamed = LabelSet("semeval-copy", SEMEVAL.labels, "Other", SEMEVAL.person_centric, True)
    assert "semeval" in compute_metrics(SE_GOLD, SE_PRED, renamed)


def test_compute_metrics_rejects_length_mismatch():
    with pytest.raises(ValueError, match="gold has 10 labels but pred has 9"):
        compute_metrics(GOLD, PRED[:-1], DEMO)


def test_compute_metrics_rejects_unknown_label():
    with pytest.raises(ValueError, match="unknown label 'per:nonsense' in pred at position 3"):
        compute_metrics(GOLD, PRED[:3] + ["per:nonsense"] + PRED[4:], DEMO)


def test_compute_metrics_rejects_half_the_types():
    with pytest.raises(ValueError, match="both"):
        compute_metrics(GOLD, PRED, DEMO, subj_types=SUBJ)
