"""Synthetic inputs for `selfre bench`: token ids of exactly `seq_len`, two entity spans, a label.

Cost does not depend on what the tokens say, only on the shapes, so no dataset is needed: every row is
`CLS w … w SEP` with random non-special ids, a subject and an object span (each opened by a marker
position that e1 / e2 point at) and the IEL vector marking the span tokens. No padding: every example
is exactly `seq_len` long, so all variants see the same work.
"""

from __future__ import annotations

import torch

from selfre.data.record import RelationRecord

MIN_SEQ_LEN = 16


def synthetic_batch(
    tokenizer, batch_size: int, seq_len: int, num_labels: int, seed: int = 0
) -> dict[str, torch.Tensor]:
    if seq_len < MIN_SEQ_LEN:
        raise ValueError(f"seq_len must be >= {MIN_SEQ_LEN}")
    g = torch.Generator().manual_seed(seed)
    special = set(tokenizer.all_special_ids)
    ordinary = torch.tensor([i for i in range(len(tokenizer)) if i not in special])
    ids = ordinary[torch.randint(len(ordinary), (batch_size, seq_len), generator=g)]
    ids[:, 0] = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    ids[:, -1] = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    iel = torch.zeros(batch_size, seq_len)
    e1 = torch.empty(batch_size, dtype=torch.long)
    e2 = torch.empty(batch_size, dtype=torch.long)
    half = seq_len // 2
    for b in range(batch_size):
        # subject marker in the first half, object marker in the second; spans of 1-3 sub-words after them
        s_len, o_len = (int(x) for x in torch.randint(1, 4, (2,), generator=g))
        s = int(torch.randint(1, half - 4, (1,), generator=g))
        o = int(torch.randint(half, seq_len - 5, (1,), generator=g))
        e1[b], e2[b] = s, o
        iel[b, s + 1 : s + 1 + s_len] = 1
        iel[b, o + 1 : o + 1 + o_len] = 1
    return {
        "input_ids": ids,
        "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
        "e1": e1,
        "e2": e2,
        "iel": iel,
        "labels": torch.randint(num_labels, (batch_size,), generator=g),
    }


def tokenizer_corpus(n: int = 1200, seed: int = 0) -> list[RelationRecord]:
    """Records for presets that train their tokenizer on a corpus (`tiny`): the seeded demo split."""
    from selfre.data.demo import make_split
    from selfre.data.tacred import record_from_json

    return [record_from_json(obj, i) for i, obj in enumerate(make_split("train", n, seed))]
