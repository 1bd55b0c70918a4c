"""Figures as matplotlib `Figure`s (Agg backend: workers and CI have no display). Callers log or save
them and close them (`plt.close(fig)`); nothing here touches MLflow."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def per_relation_f1(per_relation: dict, title: str = "Test F1 per relation"):
    """Horizontal bars, one per relation with gold support, sorted by F1 (no_relation is not scored)."""
    items = sorted(
        ((k, v["f1"], v["support"]) for k, v in per_relation.items() if v.get("support")), key=lambda t: t[1]
    )
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.28 * len(items) + 1)))
    ax.barh([f"{k} ({s})" for k, _, s in items], [100 * f for _, f, _ in items], color="tab:blue")
    ax.set_xlabel("F1 (%)  [label (gold support)]")
    ax.set_xlim(0, 100)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def confusion_top(confusion: dict, title: str = "Confusion (top labels by errors), row-normalised"):
    """`selfre.metrics.confusion` output: rows = gold, columns = predicted, over its top-20 labels."""
    labels = confusion["labels"]
    fig, ax = plt.subplots(figsize=(max(4, 0.45 * len(labels) + 2), max(3.5, 0.45 * len(labels) + 1.5)))
    if not labels:
        ax.text(0.5, 0.5, "no errors", ha="center", va="center")
        ax.axis("off")
        return fig
    m = np.asarray(confusion["matrix"], dtype=float)
    norm = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    int(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


def gate_heatmap(gate: np.ndarray, tokens: list[str], title: str):
    """Paper Fig. 6: the HR retainer gate G (n tokens × L+2 sources) of one sentence."""
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * gate.shape[1] + 2), max(3, 0.18 * len(tokens) + 1)))
    im = ax.imshow(gate, aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(tokens)), tokens, fontsize=6)
    ax.set_xlabel("hidden-state source (embeddings, layers 1..L, ...)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.04)
    fig.tight_layout()
    return fig


def spp_vs_iel(alpha: np.ndarray, iel: np.ndarray, tokens: list[str], title: str):
    """Paper Fig. 5: SPP's attention distribution α over tokens against the IEL entity indicator."""
    fig, ax = plt.subplots(figsize=(max(5, 0.22 * len(tokens) + 1), 3))
    x = np.arange(len(tokens))
    ax.bar(x, alpha, color="tab:orange", label="α (SPP attention)")
    target = iel / iel.sum() if iel.sum() else iel
    ax.step(x, target, where="mid", color="tab:blue", label="IEL (normalised)")
    ax.set_xticks(x, tokens, rotation=90, fontsize=6)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def lambda_curve(points: list[dict], title: str = "Objective against λ (mean ± std over seeds)"):
    """Paper Fig. 11. `points`: [{lambda, mean, std, label}] (label = the series, e.g. 'dev micro_f1')."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label in dict.fromkeys(p["label"] for p in points):
        series = sorted((p for p in points if p["label"] == label and not _nan(p["mean"])), key=lambda p: p["lambda"])
        if series:
            xs = [p["lambda"] for p in series]
            ax.errorbar(
                xs,
                [100 * p["mean"] for p in series],
                yerr=[100 * (p["std"] or 0) for p in series],
                marker="o",
                capsize=3,
                label=label,
            )
    ax.set_xlabel("λ (model.spp_lambda)")
    ax.set_ylabel("score (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def spp_entity_mass(attention: dict, title: str = "Attention SPP reads: mass on the entity sub-words"):
    """`TrainResult.spp_attention` ({"before", "after"}, selfre.train.spp_diagnostics.entity_mass): left, the
    per-sentence entity mass of α' before and after training against the uniform share k/n; right, α' over the
    first probe sentence's tokens before and after, entity sub-words shaded."""
    stages = [s for s in ("before", "after") if s in attention]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    data = [100 * np.asarray(attention[s]["alpha_prime_mass"]) for s in stages]
    left.boxplot(data, showmeans=True)
    left.set_xticks(range(1, len(stages) + 1), stages)
    left.axhline(
        100 * float(np.mean(attention[stages[0]]["uniform_mass"])), color="grey", ls="--", label="uniform k/n (mean)"
    )
    left.set_ylabel("α' mass on entities (%)")
    left.legend(fontsize=7)
    example = attention[stages[0]]["example"]
    x = np.arange(len(example["iel"]))
    for i, iel in enumerate(example["iel"]):
        if iel:
            right.axvspan(i - 0.5, i + 0.5, color="tab:blue", alpha=0.15, lw=0)
    for s, color in zip(stages, ("tab:grey", "tab:orange"), strict=False):
        right.plot(x, attention[s]["example"]["alpha_prime"], marker=".", color=color, label=f"α' {s}")
    if example.get("tokens"):
        right.set_xticks(x, example["tokens"], rotation=90, fontsize=6)
    right.set_ylabel("α' (attention received)")
    right.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def close(fig) -> None:
    plt.close(fig)
