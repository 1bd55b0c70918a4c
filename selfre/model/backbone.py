"""Loading any HuggingFace encoder and its fast tokenizer, with the right attention kernel.

transformers 5 defaults to the fused `sdpa` kernel, which silently returns an *empty* attentions
tuple. SPP needs the probabilities, so wherever SPP runs the eager kernel is chosen explicitly — at
every load (fresh, from a checkpoint, in each Ray worker). Everywhere else the fused kernel stays.
With `spp_kernel=fused` SPP needs no probabilities from the encoder (it computes its column means from
the queries and keys, `selfre.model.spp.AttentionSummaryProbe`), so the encoder stays on sdpa there too.

Weights are loaded in float32 whatever the encoder's `config.json` says: transformers 5 defaults to
`dtype="auto"`, and half-precision master weights break training (AdamW's small updates round away in
bf16; fp16 gradients make loss scaling fail). AMP casts per op on GPU instead (docs/method.md).
"""

from __future__ import annotations

import logging

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from selfre.config import ModelConfig

log = logging.getLogger(__name__)

MASTER_DTYPE = torch.float32  # see module doc


def attn_implementation(cfg: ModelConfig, need_attentions: bool) -> str:
    if cfg.attn_implementation != "auto":
        return cfg.attn_implementation
    return "eager" if need_attentions and cfg.spp_kernel == "eager" else "sdpa"


def load_tokenizer(path: str):
    # Byte-level BPE (RoBERTa) needs add_prefix_space=True for pre-split words; others ignore it.
    try:
        tok = AutoTokenizer.from_pretrained(path, add_prefix_space=True)
    except (TypeError, ValueError):
        tok = AutoTokenizer.from_pretrained(path)
    if not tok.is_fast:
        raise ValueError(f"{path}: selfre needs a fast tokenizer (tokenizer.json) for word alignment")
    return tok


def _with_fallback(load, impl: str):
    try:
        return load(impl)
    except (ValueError, ImportError) as exc:
        if impl == "eager":
            raise
        log.warning("attention kernel %r unavailable for this encoder (%s); using eager", impl, exc)
        return load("eager")


def _without_pooler(build, **kwargs):
    # BERT-like encoders carry a pooler SELF never uses (its unused weights would also break DDP's
    # "every parameter gets a gradient" check); encoders without one reject the flag.
    try:
        return build(add_pooling_layer=False, **kwargs)
    except TypeError:
        return build(**kwargs)


def load_encoder(path: str, impl: str):
    """Pre-trained weights from a name or folder."""
    return _with_fallback(
        lambda i: _without_pooler(
            AutoModel.from_pretrained, pretrained_model_name_or_path=path, attn_implementation=i, dtype=MASTER_DTYPE
        ),
        impl,
    )


def encoder_from_config(config_dir: str, impl: str):
    """Architecture only (weights come from a checkpoint's safetensors)."""
    config = AutoConfig.from_pretrained(config_dir)
    return _with_fallback(
        lambda i: _without_pooler(AutoModel.from_config, config=config, attn_implementation=i, dtype=MASTER_DTYPE), impl
    )
