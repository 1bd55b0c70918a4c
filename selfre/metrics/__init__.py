"""Evaluation metrics (docs/method.md §7): pure functions of gold and predicted label lists."""

from selfre.metrics.compute import compute_metrics, is_semeval
from selfre.metrics.confusion import confusion
from selfre.metrics.person_centric import person_centric, person_typed
from selfre.metrics.prf import Tally, micro_prf, per_relation, prf
from selfre.metrics.semeval import relation_type, semeval_scores

__all__ = [
    "Tally",
    "compute_metrics",
    "confusion",
    "is_semeval",
    "micro_prf",
    "per_relation",
    "person_centric",
    "person_typed",
    "prf",
    "relation_type",
    "semeval_scores",
]
