"""The model-selection metric's value (docs/method.md §6-7): its names, `auto` and `resolve` are the config's
(selfre.config.SELECT_METRICS); here, what each name reads from a metrics dict.

`flat_scores(metrics, prefix)` is the one place a metrics dict (selfre.metrics.compute_metrics) becomes
the flat scalars that Ray, MLflow and the summary carry: `<prefix>_precision/recall/f1` (micro),
`<prefix>_pc_f1`, and for SemEval `<prefix>_official_macro_f1`.
"""

from __future__ import annotations


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
