"""What the model does inside, on a few dev sentences: the HR retainer gate (Fig. 6) and SPP's attention
α against the IEL vector (Fig. 5). Reuses the checkpoint loader, the encoder and the collate function;
the model is run with `with_spp=True` (that is what returns α) and attentions enabled."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from selfre.encoding.collate import collate
from selfre.encoding.encode import RelationEncoder
from selfre.train.checkpoint import load_model_checkpoint


@dataclass
class Probe:
    record_id: str
    tokens: list[str]  # sub-word tokens, markers included (byte-level BPE space marker Ġ dropped)
    gate: np.ndarray | None  # n × (L+2), None without HR
    alpha: np.ndarray | None  # n, None without SPP
    iel: np.ndarray


@torch.no_grad()
def probe(checkpoint_dir: str | Path, records, limit: int = 3) -> list[Probe]:
    model, tokenizer, _, cfg, _ = load_model_checkpoint(Path(checkpoint_dir), need_attentions=True)
    encoder = RelationEncoder(tokenizer, cfg.data.marker, cfg.data.max_seq_length, cfg.model.iel_include_markers)
    examples, _ = encoder.encode(list(records)[: max(limit * 3, limit)])
    examples = examples[:limit]
    out: list[Probe] = []
    for ex, record in ((e, records[e.index]) for e in examples):
        batch = collate([ex], tokenizer.pad_token_id)
        batch.pop("index")
        batch.pop("labels")
        result = model(**batch, with_spp=model.use_spp)
        n = len(ex.input_ids)
        out.append(
            Probe(
                record_id=str(record.id),
                tokens=[t.replace("\u0120", " ").strip() or t for t in tokenizer.convert_ids_to_tokens(ex.input_ids)],
                gate=None if result.gate is None else result.gate[0, :n].float().numpy(),
                alpha=None if result.alpha is None else result.alpha[0, :n].float().numpy(),
                iel=np.asarray(ex.iel, dtype=float),
            )
        )
    return out
