"""Scores as percentages: the one spelling of a fraction, and of mean ± std over seeds, that every table
prints (the search summary, the paper's tables, the ablation table, the scorer layouts)."""

from __future__ import annotations

import math


def percent(x: float | None, spec: str = ".2f") -> str:
    """100·x formatted by `spec` ('7.3f' in the official scorers' layout); '-' where the figure is missing
    (None, or NaN: a statistic over no seeds)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{100 * x:{spec}}"


def mean_pm_std(mean: float | None, std: float | None, sep: str = " ± ") -> str:
    """'mean ± std' in percent; '-' alone where the mean is missing (`sep`: '±' in narrow columns)."""
    if mean is None or math.isnan(mean):
        return "-"
    return f"{percent(mean)}{sep}{percent(std)}"
