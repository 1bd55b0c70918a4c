"""Checkpoint folders.

A *model checkpoint* explains and reproduces itself:
    model.safetensors   all SELF weights (encoder + HR + head + σ's)
    encoder/            the encoder's HF config (architecture; weights are in model.safetensors)
    tokenizer/          the tokenizer, marker tokens included
    labels.json         the label set (class order = logit order)
    config.json         the full RunConfig
    metrics.json        dev (and, for the final checkpoint, test) metrics
    data_info.json      what the data loader recorded (files, counts, SemEval dev ids, ...)
A *training-state checkpoint* (written every epoch, used to resume) adds `training_state.pt` with the
optimizer, scheduler, epoch, RNG states and the best-dev bookkeeping, plus `best_model.safetensors`
when the best epoch is not the current one.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from selfre.config import RunConfig
from selfre.data.labels import LabelSet
from selfre.errors import SelfreError
from selfre.model.build import build_from_folders
from selfre.model.self_model import SELFModel
from selfre.stage_timer import timed

WEIGHTS = "model.safetensors"
BEST_WEIGHTS = "best_model.safetensors"
STATE = "training_state.pt"


def unwrap(model) -> SELFModel:
    return model.module if hasattr(model, "module") else model


def state_dict_cpu(model) -> dict[str, torch.Tensor]:
    # clone(): safetensors refuses tensors that share storage, and the copy must not follow later updates.
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in unwrap(model).state_dict().items()}


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


@timed("checkpoint:save_model_checkpoint")
def save_model_checkpoint(
    out: Path,
    model,
    tokenizer,
    label_set: LabelSet,
    cfg: RunConfig,
    metrics: dict,
    data_info: dict,
    weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_file(weights if weights is not None else state_dict_cpu(model), str(out / WEIGHTS))
    unwrap(model).encoder.config.save_pretrained(out / "encoder")
    tokenizer.save_pretrained(out / "tokenizer")
    write_json(out / "labels.json", label_set.to_dict())
    write_json(out / "config.json", cfg.to_dict())
    write_json(out / "metrics.json", metrics)
    write_json(out / "data_info.json", data_info)
    return out


def read_checkpoint_meta(path: Path) -> tuple[RunConfig, LabelSet, dict]:
    path = Path(path)
    missing = [n for n in (WEIGHTS, "labels.json", "config.json", "encoder", "tokenizer") if not (path / n).exists()]
    if missing:
        raise SelfreError(f"{path} is not a selfre checkpoint (missing {', '.join(missing)})")
    cfg = RunConfig.from_dict(json.loads((path / "config.json").read_text()))
    labels = LabelSet.from_dict(json.loads((path / "labels.json").read_text()))
    metrics = json.loads((path / "metrics.json").read_text()) if (path / "metrics.json").exists() else {}
    return cfg, labels, metrics


def load_model_checkpoint(path: Path, need_attentions: bool = False, device: str | torch.device = "cpu"):
    """-> (model, tokenizer, label_set, RunConfig, metrics). Inference needs no attentions: fused kernel."""
    path = Path(path)
    cfg, labels, metrics = read_checkpoint_meta(path)
    model, tokenizer = build_from_folders(
        cfg.model, str(path / "encoder"), str(path / "tokenizer"), len(labels), need_attentions
    )
    model.load_state_dict(load_file(str(path / WEIGHTS)))
    return model.to(device).eval(), tokenizer, labels, cfg, metrics


@timed("checkpoint:save_training_state")
def save_training_state(out: Path, state: dict, best_weights: dict[str, torch.Tensor] | None) -> None:
    torch.save(state, Path(out) / STATE)
    if best_weights is not None:
        save_file(best_weights, str(Path(out) / BEST_WEIGHTS))
    elif (Path(out) / BEST_WEIGHTS).exists():
        (Path(out) / BEST_WEIGHTS).unlink()


def load_training_state(path: Path) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """-> (state, current weights, best weights or None when the current ones are the best)."""
    path = Path(path)
    if not (path / STATE).exists():
        raise SelfreError(f"{path} holds no training state ({STATE}); cannot resume from it")
    state = torch.load(path / STATE, map_location="cpu", weights_only=False)
    best = load_file(str(path / BEST_WEIGHTS)) if (path / BEST_WEIGHTS).exists() else None
    return state, load_file(str(path / WEIGHTS)), best


def replace_dir(src: Path, dst: Path) -> None:
    """Move a finished folder into place so readers never see a half-written checkpoint."""
    if dst.exists():
        shutil.rmtree(dst)
    src.replace(dst)
