"""The model-selection metric (SPEC §6-7): one name, used for the best epoch, ASHA, Optuna, the search
summary, reports and the registry.

Names (`train.select_metric`, the search's `--metric`):
  micro_f1           micro F1 without the no-relation label (TACRED's official scorer)
  official_macro_f1  SemEval-2010 Task 8's official (9+1)-way macro-F1 with direction (SemEval only)
  pc_f1              person-centric micro F1 (paper Table 6; SemEval: over all categories, SPEC §7)
  auto               the dataset's paper headline: official_macro_f1 for SemEval, micro_f1 otherwise

`flat_scores(metrics, prefix)` is the one place a metrics dict (selfre.metrics.compute_metrics) becomes
the flat scalars that Ray, MLflow and the summary carry: `<prefix>_precision/recall/f1` (micro),
`<prefix>_pc_f1`, and for SemEval `<prefix>_official_macro_f1`.
"""

from __future__ import annotations

from selfre.config import SELECT_METRICS as CHOICES
from selfre.errors import ConfigError

AUTO = CHOICES[0]
OBJECTIVES = CHOICES[1:]  # micro_f1, official_macro_f1, pc_f1


def headline(dataset: str) -> str:
    """The metric the paper reports for `dataset`."""
    return "official_macro_f1" if dataset == "semeval" else "micro_f1"


def resolve(name: str, dataset: str) -> str:
    """`auto` -> the dataset's headline; a SemEval-only metric on another dataset is a ConfigError."""
    if name == AUTO:
        return headline(dataset)
    if name not in OBJECTIVES:
        raise ConfigError(f"train.select_metric={name!r}: expected one of {', '.join(CHOICES)}")
    if name == "official_macro_f1" and dataset != "semeval":
        raise ConfigError(
            f"train.select_metric=official_macro_f1 exists only for SemEval-2010 Task 8 (dataset is {dataset!r}); "
            "use micro_f1 or pc_f1"
        )
    return name


def score(metrics: dict, name: str) -> float:
    """The value of objective `name` (already resolved) in a compute_metrics dict."""
    if name == "micro_f1":
        return float(metrics["f1"])
    if name == "pc_f1":
        return float(metrics["person_centric"]["f1"])
    if name == "official_macro_f1":
        if "semeval" not in metrics:
            raise ValueError("official_macro_f1 needs SemEval-2010 Task 8 metrics (its label set)")
        return float(metrics["semeval"]["official_macro_f1"])
    raise ValueError(f"unknown objective {name!r}")


def flat_scores(metrics: dict, prefix: str) -> dict[str, float]:
    """Flat scalar view of a metrics dict, e.g. prefix 'dev' -> dev_precision, dev_recall, dev_f1, dev_pc_f1
    (+ dev_official_macro_f1 for SemEval). Empty for an empty dict (an epoch without evaluation)."""
    if not metrics:
        return {}
    out = {f"{prefix}_{k}": float(metrics[k]) for k in ("precision", "recall", "f1")}
    pc = metrics.get("person_centric") or {}
    if pc.get("f1") is not None:
        out[f"{prefix}_pc_f1"] = float(pc["f1"])
    if "semeval" in metrics:
        out[f"{prefix}_official_macro_f1"] = float(metrics["semeval"]["official_macro_f1"])
    return out
