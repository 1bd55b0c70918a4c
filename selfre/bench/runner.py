"""`selfre bench`: the paper's Table 9 for the four ablation variants, measured in one process.

1. Build baseline / +SPP / +HR / SELF on the same encoder weights (same seed for the heads), each with
   its own AdamW, and one synthetic batch per shape (training batch, batch 1, batch 64).
2. Warm every variant up, then count FLOPs (forward at inference, forward+backward of a training step)
   and measure peak memory once each: neither depends on machine load.
3. Time the variants interleaved: each repetition runs one training step of every variant, then the
   batch-1 calls, then the batch-64 calls, in an order rotated every repetition, so a burst of load from
   other jobs hits all variants alike. Medians over repetitions are reported.

A training step is what `selfre train` runs: zero_grad, forward (autocast on a GPU), backward, clip,
AdamW step. Inference is `model.eval()` under `no_grad`, where SPP does nothing (it is a training loss),
on the attention kernel `selfre predict` / `evaluate` load a checkpoint with (sdpa unless
`attn_implementation` says otherwise): an encoder trained on the eager kernel for SPP is timed at
inference on a copy switched to that kernel.
"""

from __future__ import annotations

import copy
import logging
import os
import platform
import statistics
from collections.abc import Callable
from datetime import datetime, timezone

import torch

from selfre.bench.inputs import synthetic_batch, tokenizer_corpus
from selfre.bench.measure import MB, Timer, count_flops, peak_memory_bytes, tensor_bytes
from selfre.bench.settings import BenchSettings
from selfre.config import ModelConfig, TrainConfig
from selfre.data.labels import TACRED
from selfre.model.backbone import attn_implementation
from selfre.model.build import build_for_training
from selfre.model.presets import resolve_encoder
from selfre.train.inference import autocast_for
from selfre.train.optim import build_optimizer

log = logging.getLogger(__name__)

# name -> (use_spp, use_hr): docs/method.md §5's ablation variants, baseline first (the ratios' denominator).
VARIANTS = {"baseline": (False, False), "spp": (True, False), "hr": (False, True), "self": (True, True)}
LABELS = {"baseline": "baseline", "spp": "+SPP", "hr": "+HR", "self": "SELF"}
MARKER = "typed_entity_marker_punct"
NUM_LABELS = len(TACRED)  # 42: the label count of the paper's Table 9 (TACRED)
THROUGHPUT_BATCH = 64
LATENCY_CALLS = 5  # batch-1 calls per variant per repetition (each is a sample)
METRICS = (
    "params",
    "flops_per_example",
    "train_flops_per_example",
    "train_step_ms",
    "infer_ms_batch1",
    "throughput_batch64",
    "peak_mem_mb",
    "peak_mem_infer_mb",
)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return device


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads ({os.cpu_count()} logical cores)"


class Arm:
    """One variant: model, optimizer, inputs on the device, and the three measured calls."""

    def __init__(self, name: str, model, tokenizer, cfg: ModelConfig, s: BenchSettings, device: torch.device):
        self.name, self.model = name, model.to(device)
        self.infer_model = model
        infer_kernel = attn_implementation(cfg, need_attentions=False)  # what a loaded checkpoint predicts with
        if model.encoder.config._attn_implementation != infer_kernel:
            self.infer_model = copy.deepcopy(model)
            self.infer_model.encoder.set_attn_implementation(infer_kernel)
        self.optimizer = build_optimizer(model, TrainConfig())
        self.autocast, dtype = autocast_for(device, s.amp)
        self.scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)

        def on_device(batch: dict) -> dict:
            return {k: v.to(device) for k, v in batch.items()}

        self.train_batch = on_device(synthetic_batch(tokenizer, s.batch_size, s.seq_len, NUM_LABELS, s.seed))
        infer_keys = ("input_ids", "attention_mask", "e1", "e2")
        big = synthetic_batch(tokenizer, THROUGHPUT_BATCH, s.seq_len, NUM_LABELS, s.seed + 1)
        self.batch64 = on_device({k: big[k] for k in infer_keys})
        self.batch1 = {k: v[:1] for k, v in self.batch64.items()}

    def train_step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast:
            loss = self.model(**self.train_batch).loss
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def forward_backward(self) -> None:
        """The FLOP-bearing part of a training step (the optimizer's elementwise update is not counted)."""
        self.model.train()
        with self.autocast:
            loss = self.model(**self.train_batch).loss
        loss.backward()
        self.optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def infer(self, batch: dict) -> None:
        self.infer_model.eval()
        with self.autocast:
            self.infer_model(**batch)

    def resident_bytes(self, training: bool) -> int:
        """What lives between calls: weights and buffers, plus AdamW's moments when training."""
        model = self.model if training else self.infer_model
        tensors = [*model.parameters(), *model.buffers()]
        if training:
            tensors += [
                v for st in self.optimizer.state.values() for v in st.values() if torch.is_tensor(v) and v.dim()
            ]
        return tensor_bytes(tensors)


def build_arms(s: BenchSettings, device: torch.device) -> list[Arm]:
    records = tokenizer_corpus() if s.model == "tiny" else []
    if s.model == "tiny":  # build the preset once, outside the per-variant loop
        resolve_encoder("tiny", lambda: _marked(records))
    arms = []
    for name, (use_spp, use_hr) in VARIANTS.items():
        cfg = ModelConfig(model_name_or_path=s.model, use_spp=use_spp, use_hr=use_hr, spp_kernel=s.spp_kernel)
        torch.manual_seed(s.seed)  # same head initialisation for every variant
        model, tokenizer = build_for_training(cfg, MARKER, NUM_LABELS, records)
        arms.append(Arm(name, model, tokenizer, cfg, s, device))
    return arms


def _marked(records):
    from selfre.model.build import marked_corpus

    return marked_corpus(records, MARKER)


def _rotated(arms: list[Arm], r: int) -> list[Arm]:
    k = r % len(arms)
    return arms[k:] + arms[:k]


def run_benchmark(s: BenchSettings, progress: Callable[[str], None] | None = None) -> dict:
    """Measure the four variants; returns the JSON-ready result (see `selfre bench --json`)."""
    say = progress or (lambda msg: None)
    if s.batch_size < 1 or s.repeats < 1 or s.warmup < 0:
        raise ValueError("batch_size and repeats must be >= 1, warmup >= 0")
    if s.threads:
        torch.set_num_threads(s.threads)
    device = resolve_device(s.device)
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    say(f"building the four variants of {s.model} on {device}")
    arms = build_arms(s, device)
    timer = Timer(device, s.clock)

    say(f"warm-up: {s.warmup} round(s)")
    for _ in range(max(1, s.warmup)):  # one step at least: AdamW's state must exist before memory is measured
        for arm in arms:
            arm.train_step()
            arm.infer(arm.batch1)
            arm.infer(arm.batch64)

    say("counting FLOPs and peak memory")
    static: dict[str, dict] = {}
    for arm in arms:
        arm.optimizer.zero_grad(set_to_none=True)
        static[arm.name] = {
            "params": sum(p.numel() for p in arm.model.parameters()),
            "flops_per_example": count_flops(lambda a=arm: a.infer(a.batch64)) / THROUGHPUT_BATCH,
            "train_flops_per_example": count_flops(arm.forward_backward) / s.batch_size,
            "peak_mem_mb": peak_memory_bytes(arm.train_step, device, arm.resident_bytes(True)) / MB,
            "peak_mem_infer_mb": peak_memory_bytes(lambda a=arm: a.infer(a.batch1), device, arm.resident_bytes(False))
            / MB,
        }

    samples = {arm.name: {"train": [], "b1": [], "b64": []} for arm in arms}
    for r in range(s.repeats):
        say(f"repetition {r + 1}/{s.repeats}")
        order = _rotated(arms, r)
        for arm in order:
            samples[arm.name]["train"].append(timer(arm.train_step))
        for arm in order:
            samples[arm.name]["b1"] += [timer(lambda a=arm: a.infer(a.batch1)) for _ in range(LATENCY_CALLS)]
        for arm in order:
            samples[arm.name]["b64"].append(timer(lambda a=arm: a.infer(a.batch64)))

    variants = {}
    for arm in arms:
        got = samples[arm.name]
        variants[arm.name] = {
            **static[arm.name],
            "train_step_ms": statistics.median(got["train"]),
            "infer_ms_batch1": statistics.median(got["b1"]),
            "throughput_batch64": THROUGHPUT_BATCH / (statistics.median(got["b64"]) / 1e3),
            "spread": {k: [min(v), max(v)] for k, v in got.items()},
            "attn_implementation": arm.model.encoder.config._attn_implementation,
            "attn_implementation_infer": arm.infer_model.encoder.config._attn_implementation,
        }
    base = variants["baseline"]
    for v in variants.values():
        v["ratios"] = {m: (v[m] / base[m] if base[m] else None) for m in METRICS}

    enc = arms[0].model.encoder.config
    import transformers

    return {
        "model": s.model,
        "batch_size": s.batch_size,
        "seq_len": s.seq_len,
        "device": str(device),
        "device_name": device_description(device),
        "repeats": s.repeats,
        "warmup": s.warmup,
        "spp_kernel": s.spp_kernel,
        "clock": "cuda events" if device.type == "cuda" else s.clock,
        "threads": torch.get_num_threads(),
        "amp": bool(s.amp and device.type == "cuda"),
        "encoder": {
            k: getattr(enc, k, None)
            for k in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
        },
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "loadavg": {
            "start": list(load_start) if load_start else None,
            "end": list(os.getloadavg()) if load_start else None,
        },
        "variants": variants,
    }
