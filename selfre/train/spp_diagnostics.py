"""What SPP does to the model, measured during training at little cost (only when SPP is on).

* `gradient_share`: at the first step of every epoch, the norm of SPP's weighted gradient on the encoder's
  weights against the relation loss's — ‖∇_enc w_spp·L_spp‖ / ‖∇_enc w_re·L_re‖ with the weighting's current
  term weights (manual: 1 and λ; uncertainty: ½e^(−s_k)). The loss values say which regime a run is in
  (docs/method.md §3); this says how hard SPP actually pulls on the encoder. Two extra backward passes per
  epoch, on one process (under DDP it is not measured: the reducer expects exactly one backward per step).
* `entity_mass`: before the first step and after training (the best-dev weights), on a fixed probe set of dev
  sentences in eval mode, the probability mass that α' (the attention SPP reads: column means over SPP's
  layers, Eq. 2-3) and α (SPP's distribution under the run's regime) put on the entity sub-words (Q = 1),
  beside the uniform share k/n. One forward pass over `PROBE_SENTENCES` sentences each time.

The results are plain numbers and lists: `EpochResult.diagnostics` per epoch and `TrainResult.spp_attention`
at the end; the tracking layer logs and plots them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from selfre.encoding.collate import collate
from selfre.encoding.encode import EncodedExample

PROBE_SENTENCES = 32


def gradient_share(model, loss_re: torch.Tensor, loss_spp: torch.Tensor) -> dict[str, float]:
    """{spp_grad_ratio, spp_grad_ratio_raw}: weighted and unweighted ratio of the two losses' gradient norms
    on the encoder. The graph is kept (retain_graph) for the step's own backward; .grad is not touched."""
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    norms = []
    for loss in (loss_re, loss_spp):
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        norms.append(math.sqrt(sum(float(g.float().pow(2).sum()) for g in grads if g is not None)))
    w_re, w_spp = model.weighting.term_weights()
    if norms[0] == 0 or w_re == 0:
        return {}
    raw = norms[1] / norms[0]
    return {"spp_grad_ratio": raw * w_spp / w_re, "spp_grad_ratio_raw": raw}


@torch.no_grad()
def entity_mass(
    model, examples: Sequence[EncodedExample], pad_token_id: int, device: torch.device, tokenizer=None
) -> dict:
    """Per probe sentence: the mass of α' and of α on the entity sub-words, and the uniform share k/n; plus
    the first sentence's α' over its tokens (for the plot). The model's train/eval mode is restored."""
    was_training = model.training
    model.eval()
    try:
        batch = collate(list(examples), pad_token_id)
        batch.pop("index")
        batch.pop("labels")
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(**batch, with_spp=True)
    finally:
        model.train(was_training)
    entity = (batch["iel"] > 0).float()
    valid = batch["attention_mask"].float()
    first = examples[0]
    n = len(first.input_ids)
    example = {"alpha_prime": out.alpha_prime[0, :n].float().cpu().tolist(), "iel": list(first.iel)}
    if tokenizer is not None:
        example["tokens"] = tokenizer.convert_ids_to_tokens(first.input_ids)
    return {
        "alpha_prime_mass": (out.alpha_prime.float() * entity).sum(-1).cpu().tolist(),
        "alpha_mass": (out.alpha.float() * entity).sum(-1).cpu().tolist(),
        "uniform_mass": (entity.sum(-1) / valid.sum(-1)).cpu().tolist(),
        "example": example,
    }


def probe_examples(examples: Sequence[EncodedExample]) -> list[EncodedExample]:
    """The fixed probe set: the first dev sentences, the same before and after training."""
    return list(examples[:PROBE_SENTENCES])
