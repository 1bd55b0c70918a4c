"""Assembling tokenizer + encoder + SELF heads for a run, fresh or from a checkpoint's folders."""

from __future__ import annotations

from collections.abc import Sequence

from selfre.config import ModelConfig
from selfre.data.record import RelationRecord
from selfre.encoding.markers import ENTITY_MARKER_TOKENS, mark, resolve_marker
from selfre.model.backbone import attn_implementation, encoder_from_config, load_encoder, load_tokenizer
from selfre.model.presets import resolve_encoder
from selfre.model.self_model import SELFModel
from selfre.stage_timer import timed


def marked_corpus(records: Sequence[RelationRecord], marker: str) -> list[str]:
    """The training sentences as the encoder will see them (markers included): the `tiny` tokenizer's corpus."""
    return [" ".join(mark(r, resolve_marker(marker, r.subj_type is not None)).words) for r in records]


def add_marker_tokens(tokenizer, marker: str) -> None:
    if marker == "entity_marker":
        tokenizer.add_special_tokens({"additional_special_tokens": list(ENTITY_MARKER_TOKENS)})


@timed("build:build_for_training")
def build_for_training(cfg: ModelConfig, marker: str, num_labels: int, train_records: Sequence[RelationRecord]):
    """Fresh model from pre-trained weights (or a preset). Returns (model, tokenizer)."""
    path = resolve_encoder(cfg.model_name_or_path, lambda: marked_corpus(train_records, marker))
    tokenizer = load_tokenizer(path)
    add_marker_tokens(tokenizer, marker)
    encoder = load_encoder(path, attn_implementation(cfg, need_attentions=cfg.use_spp))
    if len(tokenizer) > encoder.get_input_embeddings().num_embeddings:
        encoder.resize_token_embeddings(len(tokenizer))
    return SELFModel(encoder, num_labels, cfg), tokenizer


def build_from_folders(cfg: ModelConfig, encoder_dir: str, tokenizer_dir: str, num_labels: int, need_attentions: bool):
    """Architecture from a checkpoint's saved encoder config; the caller loads the weights."""
    tokenizer = load_tokenizer(tokenizer_dir)
    encoder = encoder_from_config(encoder_dir, attn_implementation(cfg, need_attentions=need_attentions))
    return SELFModel(encoder, num_labels, cfg), tokenizer
