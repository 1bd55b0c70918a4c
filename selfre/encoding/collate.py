"""Dynamic padding: each batch is padded to its own longest example, not to max_seq_length."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from selfre.encoding.encode import EncodedExample


def collate(batch: Sequence[EncodedExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    n = max(len(ex.input_ids) for ex in batch)
    input_ids = torch.full((len(batch), n), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(batch), n), dtype=torch.long)
    iel = torch.zeros((len(batch), n), dtype=torch.float)
    for i, ex in enumerate(batch):
        k = len(ex.input_ids)
        input_ids[i, :k] = torch.tensor(ex.input_ids)
        attention_mask[i, :k] = 1
        iel[i, :k] = torch.tensor(ex.iel, dtype=torch.float)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "iel": iel,
        "e1": torch.tensor([ex.e1 for ex in batch]),
        "e2": torch.tensor([ex.e2 for ex in batch]),
        "labels": torch.tensor([ex.label for ex in batch]),
        "index": torch.tensor([ex.index for ex in batch]),
    }
