"""The model-selection metric: names, the dataset headline, and the flat scores every layer reports."""

from __future__ import annotations

import pytest
from test_metrics import GOLD, OBJ, PRED, SE_GOLD, SE_PRED, SUBJ

from selfre.config import headline, resolve
from selfre.data.labels import DEMO, SEMEVAL
from selfre.errors import ConfigError
from selfre.metrics import compute_metrics
from selfre.metrics.objective import flat_scores, score


def test_auto_is_the_papers_headline_per_dataset():
    assert headline("semeval") == resolve("auto", "semeval") == "official_macro_f1"
    for dataset in ("tacred", "retacred", "demo", "jsonl"):
        assert resolve("auto", dataset) == "micro_f1"
    assert resolve("pc_f1", "tacred") == "pc_f1"


def test_semeval_metric_elsewhere_and_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="only for SemEval"):
        resolve("official_macro_f1", "tacred")
    with pytest.raises(ConfigError, match="select_metric='macro'"):
        resolve("macro", "semeval")


def test_score_reads_the_named_figure():
    m = compute_metrics(SE_GOLD, SE_PRED, SEMEVAL)
    # hand-computed in tests/test_metrics.py: official macro-F1 5/14, 19-way micro F1 1/2
    assert score(m, "official_macro_f1") == pytest.approx(5 / 14, abs=1e-15)
    assert score(m, "micro_f1") == 0.5
    t = compute_metrics(GOLD, PRED, DEMO, SUBJ, OBJ)
    assert score(t, "micro_f1") == 8 / 13
    assert score(t, "pc_f1") == t["person_centric"]["f1"]
    with pytest.raises(ValueError, match="SemEval"):
        score(t, "official_macro_f1")


def test_flat_scores_keys():
    m = compute_metrics(SE_GOLD, SE_PRED, SEMEVAL)
    flat = flat_scores(m, "dev")
    assert set(flat) == {"dev_precision", "dev_recall", "dev_f1", "dev_pc_f1", "dev_official_macro_f1"}
    assert flat["dev_official_macro_f1"] == pytest.approx(5 / 14, abs=1e-15)
    t = flat_scores(compute_metrics(GOLD, PRED, DEMO, SUBJ, OBJ), "test")
    assert set(t) == {"test_precision", "test_recall", "test_f1", "test_pc_f1"}
    assert flat_scores({}, "dev") == {}
