"""Running a model over encoded examples: shared by dev/test evaluation, `evaluate` and `Predictor`.

Precision rules (docs/method.md, "Precision"): training runs under AMP on GPU — bf16 on cards with native
bf16 (Ampere and later), fp16 with loss scaling on older ones; master weights are float32 always.
Evaluation and prediction run in float32 with full-precision matmuls, wherever they are called from, so a
checkpoint's recorded dev/test figures are what `selfre evaluate` and the Predictor reproduce.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from contextlib import nullcontext

import torch

from selfre.encoding.collate import collate
from selfre.encoding.encode import EncodedExample


def autocast_for(device: torch.device, enabled: bool):
    """bf16 where the GPU supports it natively (no loss scaling needed), fp16 otherwise; nothing on CPU.
    Emulated bf16 (T4, V100) is not native: no tensor cores, and SDPA falls back to its math kernel."""
    if not enabled or device.type != "cuda":
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


@contextlib.contextmanager
def float32_matmul_precision(precision: str):
    """`torch.set_float32_matmul_precision` within the block only (it is process-wide)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def training_matmuls(device: torch.device):
    """TF32 for the float32 matmuls of a training step on GPU (the fused SPP kernel's; AMP covers the
    encoder's); CPU keeps full precision, so CPU runs stay bit-identical."""
    return float32_matmul_precision("high") if device.type == "cuda" else nullcontext()


def batches(examples: Sequence[EncodedExample], batch_size: int, pad_token_id: int):
    # Sorting by length cuts padding (and time) at inference; results are put back in input order.
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    for s in range(0, len(order), batch_size):
        yield collate([examples[i] for i in order[s : s + batch_size]], pad_token_id)


@torch.no_grad()
def predict_probs(
    model,
    examples: Sequence[EncodedExample],
    batch_size: int,
    pad_token_id: int,
    device: torch.device,
    progress=None,
) -> dict[int, torch.Tensor]:
    """-> {example.index: probability vector (float32, CPU)}, computed in float32 (module doc)."""
    model.eval()
    out: dict[int, torch.Tensor] = {}
    for batch in batches(examples, batch_size, pad_token_id):
        index = batch.pop("index")
        batch.pop("labels")  # unknown at prediction time; evaluation compares outside the model
        batch = {k: v.to(device) for k, v in batch.items()}
        with float32_matmul_precision("highest"):
            logits = model(**batch, with_spp=False).logits
        for i, p in zip(index.tolist(), torch.softmax(logits.float(), dim=-1).cpu(), strict=True):
            out[i] = p
        if progress is not None:
            progress.update(len(index))
    return out
