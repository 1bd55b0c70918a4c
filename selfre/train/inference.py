"""Running a model over encoded examples: shared by dev/test evaluation, `evaluate` and `Predictor`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch

from selfre.encoding.collate import collate
from selfre.encoding.encode import EncodedExample


def autocast_for(device: torch.device, enabled: bool):
    """bf16 where the GPU supports it (no loss scaling needed), fp16 otherwise; nothing on CPU."""
    if not enabled or device.type != "cuda":
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


def batches(examples: Sequence[EncodedExample], batch_size: int, pad_token_id: int):
    # Sorting by length cuts padding (and time) at inference; results are put back in input order.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    for s in range(0, len(order), batch_size):
        yield collate([examples[i] for i in order[s : s + batch_size]], pad_token_id)


@torch.no_grad()
def predict_probs(
    model, examples: Sequence[EncodedExample], batch_size: int, pad_token_id: int, device: torch.device,
    amp: bool = False, progress=None,
) -> dict[int, torch.Tensor]:  # fmt: skip
    """-> {example.index: probability vector (float32, CPU)}."""
    model.eval()
    ctx, _ = autocast_for(device, amp)
    out: dict[int, torch.Tensor] = {}
    for batch in batches(examples, batch_size, pad_token_id):
        index = batch.pop("index")
        batch.pop("labels")  # unknown at prediction time; evaluation compares outside the model
        batch = {k: v.to(device) for k, v in batch.items()}
        with ctx:
            logits = model(**batch, with_spp=False).logits
        for i, p in zip(index.tolist(), torch.softmax(logits.float(), dim=-1).cpu(), strict=True):
            out[i] = p
        if progress is not None:
            progress.update(len(index))
    return out
