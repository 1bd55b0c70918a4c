"""The one SELF training loop (docs/method.md §6). Bare `selfre train` and each Ray Train worker call `train()`.

Stages per epoch: train (forward, backward, clip, step, schedule) -> evaluate on dev -> keep the best
-> write the resumable epoch checkpoint -> hand both to the hooks (Ray reports them, the CLI logs).
At the end the best-dev weights are scored on test and saved as the run's model checkpoint.

Distributed: if `torch.distributed` is initialised (Ray's TorchTrainer or torchrun; gloo on CPU, NCCL on
GPU) the model is wrapped in DDP, every global batch of `train.batch_size` examples is split across the
ranks (selfre.train.distributed: the batches do not depend on the worker count), evaluation is sharded and
gathered, and only rank 0 writes files. The best epoch is the one with the best dev `train.select_metric`
(selfre.metrics.objective). The core never imports Ray.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from selfre.config import RunConfig, per_rank_batch, resolve
from selfre.data.datasets import DatasetSplits, load_splits
from selfre.encoding.collate import collate
from selfre.encoding.encode import RelationEncoder
from selfre.metrics.objective import score
from selfre.model.build import build_for_training
from selfre.stage_timer import timed, timing
from selfre.train import checkpoint as ckpt
from selfre.train import distributed as ddp
from selfre.train import rng, spp_diagnostics
from selfre.train.evaluate import labels_from_probs, score_records
from selfre.train.inference import autocast_for, predict_probs, training_matmuls
from selfre.train.optim import build_optimizer, linear_warmup_decay
from selfre.train.results import EpochResult, TrainHooks, TrainResult

log = logging.getLogger(__name__)

PREDICTIONS_FILE = "test_predictions.txt"  # one label per test record, in the split's order
PROGRESS_EVERY = 20  # steps between progress-bar loss updates (each reads the running sums off the GPU)


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        # Under DDP the launcher (Ray, torchrun) has already set this process's current device.
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class _Trainer:
    """State of one run; `train()` below is the public entry point."""

    def __init__(self, cfg: RunConfig, splits: DatasetSplits | None):
        self.cfg = cfg
        self.rank, self.world = ddp.rank_world()
        self.is_main = self.rank == 0
        self.per_rank_batch = per_rank_batch(cfg.train.batch_size, self.world)  # refuses one that does not divide
        self.objective = resolve(cfg.train.select_metric, cfg.data.dataset)
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        rng.seed_all(cfg.train.seed)  # the same on every rank until the model is built (selfre.train.rng)
        self.splits = splits if splits is not None else load_splits(cfg.data)
        self.label_set = self.splits.label_set
        self.device = resolve_device(cfg.train.device)
        model, self.tokenizer = build_for_training(cfg.model, cfg.data.marker, len(self.label_set), self.splits.train)
        self.model = model.to(self.device)
        encoder = RelationEncoder(
            self.tokenizer, cfg.data.marker, cfg.data.max_seq_length, cfg.model.iel_include_markers
        )
        self.train_examples, train_stats = encoder.encode(self.splits.train, self.label_set)
        self.dev_examples, dev_stats = encoder.encode(self.splits.dev, self.label_set)
        self.test_examples, test_stats = encoder.encode(self.splits.test, self.label_set)
        self.encode_stats = {"train": train_stats.as_dict(), "dev": dev_stats.as_dict(), "test": test_stats.as_dict()}
        if not self.train_examples:
            raise ValueError("no training examples left after encoding")
        self.ddp_model = self.model
        if self.world > 1:
            with timing("torch:DistributedDataParallel"):
                self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                    self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
                )
        rng.use_rank_stream(cfg.train.seed, self.rank)  # each rank its own dropout from here on
        self.steps_per_epoch = math.ceil(len(self.train_examples) / cfg.train.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.train.epochs
        if cfg.train.max_steps:
            self.total_steps = min(self.total_steps, cfg.train.max_steps)
        self.optimizer = build_optimizer(self.model, cfg.train)
        self.scheduler = linear_warmup_decay(self.optimizer, self.total_steps, cfg.train.warmup_ratio)
        self.autocast, amp_dtype = autocast_for(self.device, cfg.train.amp)
        # fp16 needs loss scaling against underflow; bf16 has fp32's range and does not.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=amp_dtype == torch.float16)
        self.step = 0
        self.start_epoch = 1
        self.best_score = -1.0
        self.best_epoch = 0
        self.best_dev: dict = {}
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.history: list[EpochResult] = []
        self.spp_attention: dict | None = None  # {"before", "after"}: spp_diagnostics.entity_mass, SPP runs only
        self.epoch_diagnostics: dict[str, float] = {}

    # -- resume -------------------------------------------------------------------------------------
    def resume(self, path: Path) -> None:
        state, weights, best = ckpt.load_training_state(path)
        self.model.load_state_dict(weights)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])  # a bf16 or CPU run saved none: fp16 starts a fresh scale
        self.step, self.start_epoch = state["step"], state["epoch"] + 1
        self.best_score = state["best_score"]
        self.best_epoch, self.best_dev = state["best_epoch"], state["best_dev"]
        # No separate best file means the last epoch was the best one.
        self.best_weights = best if best is not None else (weights if self.best_epoch else None)
        self.history = [EpochResult(**h) for h in state["history"]]
        self.spp_attention = state.get("spp_attention")
        rng.restore_rank_state(state["rng"], self.rank, self.cfg.train.seed, self.step, self.device)
        log.info("resumed from %s at epoch %d (step %d)", path, self.start_epoch, self.step)

    # -- one epoch ----------------------------------------------------------------------------------
    @timed("loop:_Trainer.train_epoch")
    def train_epoch(self, epoch: int) -> tuple[float, float, float | None]:
        """One pass over the global batches of `epoch` (selfre.train.distributed). Returns the epoch's mean
        losses per training example, over all ranks."""
        cfg = self.cfg.train
        self.ddp_model.train()
        batches = ddp.global_batches(len(self.train_examples), cfg.batch_size, cfg.seed, epoch)
        # loss, L_re, L_spp summed over this rank's examples, and their count: kept on the device (a `.item()`
        # per step would wait for the GPU every step) and read when the progress bar shows them.
        sums = torch.zeros(4, dtype=torch.float64, device=self.device)
        total = sum(len(b) for b in batches)
        show = cfg.progress and self.is_main
        # SPP's gradient share at the epoch's first step only (two extra backward passes; not under DDP).
        diagnose = self.model.use_spp and self.world == 1
        bar = tqdm(total=total, desc=f"epoch {epoch}", disable=not show, leave=False)
        for batch in batches:
            if cfg.max_steps and self.step >= cfg.max_steps:
                break
            share = ddp.rank_share(batch, self.rank, self.world)
            # A last batch shorter than the world leaves some ranks nothing: they still take part in DDP's
            # gradient all-reduce, with one example at weight 0.
            n = len(share)
            examples = [self.train_examples[i] for i in (share or batch[:1])]
            inputs = collate(examples, self.tokenizer.pad_token_id)
            inputs.pop("index")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            with training_matmuls(self.device):
                with self.autocast:
                    out = self.ddp_model(**inputs)
                if diagnose:
                    self.epoch_diagnostics, diagnose = (
                        spp_diagnostics.gradient_share(self.model, out.loss_re, out.loss_spp),
                        False,
                    )
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(out.loss * ddp.loss_scale(n, len(batch), self.world)).backward()
            if cfg.max_grad_norm > 0:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.step += 1
            spp = out.loss_spp.detach() if out.loss_spp is not None else out.loss.new_zeros(())
            sums += torch.stack([out.loss.detach(), out.loss_re.detach(), spp, out.loss.new_ones(())]).double() * n
            bar.update(len(batch))
            if show and self.step % PROGRESS_EVERY == 0:
                bar.set_postfix(loss=f"{sums[0].item() / max(1.0, sums[3].item()):.4f}")
        bar.close()
        loss, re, spp, count = ddp.all_reduce_sums(sums.tolist(), self.device)
        count = max(1.0, count)
        return loss / count, re / count, (spp / count if self.model.use_spp else None)

    # -- evaluation ---------------------------------------------------------------------------------
    @timed("loop:_Trainer.evaluate")
    def evaluate(self, records, examples, desc: str) -> tuple[dict, list[str]]:
        cfg = self.cfg.train
        shard = examples[self.rank :: self.world]
        bar = tqdm(total=len(shard), desc=desc, disable=not (cfg.progress and self.is_main), leave=False)
        # float32, as `selfre evaluate` and the Predictor score the checkpoint (selfre.train.inference)
        probs = predict_probs(self.model, shard, cfg.eval_batch_size, self.tokenizer.pad_token_id, self.device, bar)
        bar.close()
        if self.world > 1:
            gathered: list = [None] * self.world
            dist.all_gather_object(gathered, {i: p for i, p in probs.items()})
            probs = {i: p for part in gathered for i, p in part.items()}
        predicted = labels_from_probs(probs, len(records), self.label_set)
        return score_records(records, predicted, self.label_set, dropped=len(records) - len(examples)), predicted

    def entity_mass(self) -> dict:
        """spp_diagnostics.entity_mass on the first dev sentences (the same set before and after training)."""
        probe = spp_diagnostics.probe_examples(self.dev_examples or self.train_examples)
        return spp_diagnostics.entity_mass(self.model, probe, self.tokenizer.pad_token_id, self.device, self.tokenizer)

    # -- checkpoints --------------------------------------------------------------------------------
    def data_info(self) -> dict:
        return {**self.splits.info, "encode_stats": self.encode_stats}

    def rank_rng_states(self) -> list[dict]:
        """Every rank's random state, in rank order (a collective: all ranks call it)."""
        state = rng.rng_state(self.device)
        if self.world == 1:
            return [state]
        gathered: list = [None] * self.world
        dist.all_gather_object(gathered, state)
        return gathered

    @timed("loop:_Trainer.write_epoch_checkpoint")
    def write_epoch_checkpoint(self, epoch: int, rng_states: list[dict]) -> Path:
        """Resumable state of this epoch as `<out_dir>/last`, swapped in whole once written."""
        out = Path(self.cfg.out_dir) / ".last.tmp"
        if out.exists():
            shutil.rmtree(out)
        ckpt.save_model_checkpoint(
            out,
            self.model,
            self.tokenizer,
            self.label_set,
            self.cfg,
            {"epoch": epoch, "dev": self.history[-1].dev if self.history else {}},
            self.data_info(),
        )
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "step": self.step,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_dev": self.best_dev,
            "rng": {"ranks": rng_states},
            "history": [asdict(h) for h in self.history],
            "spp_attention": self.spp_attention,
        }
        # The best weights are stored beside the current ones only when they differ.
        ckpt.save_training_state(out, state, self.best_weights if self.best_epoch != epoch else None)
        ckpt.replace_dir(out, Path(self.cfg.out_dir) / "last")
        return Path(self.cfg.out_dir) / "last"

    # -- the run ------------------------------------------------------------------------------------
    def run(self, hooks: TrainHooks) -> TrainResult:
        cfg = self.cfg.train
        out_dir = Path(self.cfg.out_dir)
        if self.is_main:
            out_dir.mkdir(parents=True, exist_ok=True)
            if self.model.use_spp and self.start_epoch == 1:
                self.spp_attention = {"before": self.entity_mass()}
        for epoch in range(self.start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            loss, loss_re, loss_spp = self.train_epoch(epoch)
            done = epoch == cfg.epochs or bool(cfg.max_steps and self.step >= cfg.max_steps)
            dev: dict = {}
            dev_score = None
            is_best = False
            if done or epoch % cfg.eval_every_epochs == 0:
                dev, _ = self.evaluate(self.splits.dev, self.dev_examples, f"dev {epoch}")
                dev_score = score(dev, self.objective)
                if dev_score > self.best_score:
                    self.best_score, self.best_epoch, self.best_dev, is_best = dev_score, epoch, dev, True
                    self.best_weights = ckpt.state_dict_cpu(self.model)  # CPU copy: training goes on
            result = EpochResult(
                epoch,
                self.step,
                loss,
                loss_re,
                loss_spp,
                self.model.loss_sigmas(),
                dev,
                is_best,
                time.perf_counter() - t0,
                self.scheduler.get_last_lr()[0],
                dev_score,
                self.epoch_diagnostics,
            )
            self.epoch_diagnostics = {}
            self.history.append(result)
            if self.is_main:
                log.info(
                    "epoch %d: loss %.4f (re %.4f, spp %s) dev P/R/F1 %s, %s %s",
                    epoch,
                    loss,
                    loss_re,
                    "-" if loss_spp is None else f"{loss_spp:.5f}",
                    "/".join(f"{dev[k]:.4f}" for k in ("precision", "recall", "f1")) if dev else "-",
                    self.objective,
                    "-" if dev_score is None else f"{dev_score:.4f}",
                )
            rng_states = self.rank_rng_states()
            hooks.on_epoch_end(result, self.write_epoch_checkpoint(epoch, rng_states) if self.is_main else None)
            if done:
                break
        return self.finish(hooks)

    def finish(self, hooks: TrainHooks) -> TrainResult:
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        test, predicted = self.evaluate(self.splits.test, self.test_examples, "test")
        if self.is_main and self.spp_attention is not None:
            self.spp_attention["after"] = self.entity_mass()  # the best-dev weights: the model the run delivers
        result = TrainResult(
            self.best_epoch,
            self.best_dev,
            test,
            self.objective,
            self.history,
            None,
            self.encode_stats,
            self.spp_attention,
        )
        if self.is_main:
            out_dir = Path(self.cfg.out_dir)
            metrics = {
                "best_epoch": self.best_epoch,
                "objective": self.objective,
                "dev": self.best_dev,
                "test": test,
                "history": [asdict(h) for h in self.history],
                "encode_stats": self.encode_stats,
            }
            if self.spp_attention is not None:
                metrics["spp_attention"] = self.spp_attention
            final = ckpt.save_model_checkpoint(
                out_dir / ".checkpoint.tmp",
                self.model,
                self.tokenizer,
                self.label_set,
                self.cfg,
                metrics,
                self.data_info(),
            )
            # The test predictions travel with the model (a search uploads only the checkpoint): paired
            # significance tests between runs need them (selfre.metrics.significance, tune/ablate.py).
            text = "\n".join(predicted) + "\n"
            (final / PREDICTIONS_FILE).write_text(text, encoding="utf-8")
            ckpt.replace_dir(final, out_dir / "checkpoint")
            (out_dir / PREDICTIONS_FILE).write_text(text, encoding="utf-8")
            ckpt.write_json(out_dir / "metrics.json", metrics)
            result.checkpoint_dir = str(out_dir / "checkpoint")
        hooks.on_train_end(result)
        return result


def train(
    cfg: RunConfig,
    hooks: TrainHooks | None = None,
    splits: DatasetSplits | None = None,
    resume_from: str | Path | None = None,
) -> TrainResult:
    """Train SELF as configured; returns the best-dev epoch's dev metrics and its test metrics.

    `splits` lets a caller that already loaded the data (a search trial) skip reloading it;
    `resume_from` is an epoch checkpoint folder (`<out_dir>/last`, or one Ray restored).
    """
    trainer = _Trainer(cfg.validate(), splits)
    if resume_from is not None:
        trainer.resume(Path(resume_from))
    return trainer.run(hooks or TrainHooks())
