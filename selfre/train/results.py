"""What a training run hands its hooks: one `EpochResult` per epoch and a `TrainResult` at the end, and the
`TrainHooks` protocol that receives them. Apart from the loop so that code which only reads results (a search
trial driver, benchmarks/bench_driver.py's stand-in trainable) does not import torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from selfre.metrics.objective import flat_scores


@dataclass
class EpochResult:
    epoch: int  # 1-based
    step: int  # optimizer steps so far
    train_loss: float
    loss_re: float
    loss_spp: float | None
    sigmas: dict[str, float]
    dev: dict  # metrics (selfre.metrics.compute_metrics) or {} when not evaluated this epoch
    is_best: bool
    seconds: float
    learning_rate: float
    score: float | None = None  # dev value of the selection metric (train.select_metric) when evaluated
    diagnostics: dict[str, float] = field(default_factory=dict)  # SPP's gradient share (selfre.train.spp_diagnostics)

    def summary(self) -> dict[str, float]:
        """Flat scalar metrics, the form Ray/MLflow report: losses, σ's, and dev_precision/recall/f1 (micro),
        dev_pc_f1, dev_official_macro_f1 (SemEval) and dev_score (the selection metric's value)."""
        out = {
            "epoch": self.epoch,
            "step": self.step,
            "train_loss": self.train_loss,
            "loss_re": self.loss_re,
            "learning_rate": self.learning_rate,
            "epoch_seconds": self.seconds,
            **self.sigmas,
            **self.diagnostics,
        }
        if self.loss_spp is not None:
            out["loss_spp"] = self.loss_spp
        out.update(flat_scores(self.dev, "dev"))
        if self.score is not None:
            out["dev_score"] = self.score
        return out


@dataclass
class TrainResult:
    best_epoch: int
    best_dev: dict
    test: dict | None
    objective: str  # the resolved selection metric (selfre.metrics.objective)
    history: list[EpochResult] = field(default_factory=list)
    checkpoint_dir: str | None = None  # the best-dev model checkpoint (rank 0)
    encode_stats: dict = field(default_factory=dict)
    # SPP runs: entity-position mass of the attention SPP reads, {"before": ..., "after": ...}
    # (selfre.train.spp_diagnostics.entity_mass); None without SPP.
    spp_attention: dict | None = None


class TrainHooks:
    """Called on every rank. `checkpoint_dir` is the resumable epoch checkpoint on rank 0, else None."""

    def on_epoch_end(self, result: EpochResult, checkpoint_dir: Path | None) -> None:
        pass

    def on_train_end(self, result: TrainResult) -> None:
        pass
