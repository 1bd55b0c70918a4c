"""Scoring a model on a split: predictions -> the same metric functions `selfre score` uses."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from selfre.data.labels import LabelSet
from selfre.data.record import RelationRecord
from selfre.encoding.encode import EncodedExample
from selfre.metrics import compute_metrics
from selfre.train.inference import predict_probs


def labels_from_probs(probs: dict[int, torch.Tensor], n: int, label_set: LabelSet) -> list[str]:
    """Argmax label per record; records the encoder dropped (entities cannot fit) count as no-relation.

    That is what the official scorer would see from a system that abstains: the gold label still
    counts, so recall is not inflated by dropping hard examples.
    """
    return [label_set.labels[int(probs[i].argmax())] if i in probs else label_set.no_relation for i in range(n)]


def score_records(
    records: Sequence[RelationRecord], predicted: Sequence[str], label_set: LabelSet, dropped: int = 0
) -> dict:
    metrics = compute_metrics(
        [r.relation for r in records],
        list(predicted),
        label_set,
        subj_types=[r.subj_type for r in records],
        obj_types=[r.obj_type for r in records],
    )
    metrics["dropped"] = dropped
    return metrics


def evaluate_examples(
    model,
    records: Sequence[RelationRecord],
    examples: Sequence[EncodedExample],
    label_set: LabelSet,
    batch_size: int,
    pad_token_id: int,
    device: torch.device,
    progress=None,
) -> tuple[dict, list[str]]:
    probs = predict_probs(model, examples, batch_size, pad_token_id, device, progress)
    predicted = labels_from_probs(probs, len(records), label_set)
    return score_records(records, predicted, label_set, dropped=len(records) - len(examples)), predicted
