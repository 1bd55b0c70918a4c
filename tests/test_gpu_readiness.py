"""The CUDA paths, checked on a CPU machine: precision choices (native bf16 only, float32 master weights,
float32 evaluation, SPP in float32 under autocast), fp16 resume, device mapping, trial placement and host
syncs. `unittest.mock` stands in for a CUDA device where one is needed; CPU autocast stands in for GPU AMP."""

from __future__ import annotations

import contextlib
import json
import shutil
from types import SimpleNamespace
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file

from selfre.cli import main
from selfre.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from selfre.data.datasets import load_splits
from selfre.data.demo import generate_demo
from selfre.encoding.encode import RelationEncoder
from selfre.errors import ConfigError
from selfre.model import backbone
from selfre.model.spp import SPPLoss, column_mean_attention, column_mean_from_queries_keys
from selfre.search.resources import TrialResources
from selfre.train import distributed as ddp
from selfre.train import inference, loop
from selfre.train.checkpoint import load_model_checkpoint
from selfre.train.evaluate import evaluate_examples
from selfre.train.results import TrainHooks


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, seed=13, n_train=64, n_dev=60, n_test=60)
    return out


def _cfg(out_dir, data_dir, model="tiny", **train_kw) -> RunConfig:
    train_kw = {"epochs": 2, "batch_size": 16, "learning_rate": 5e-4, "progress": False, "num_threads": 1, **train_kw}
    return RunConfig(
        data=DataConfig(dataset="demo", data_dir=str(data_dir), max_seq_length=64),
        model=ModelConfig(model_name_or_path=model),
        train=TrainConfig(**train_kw),
        out_dir=str(out_dir),
    )


def _gpu_of_major(monkeypatch, major: int) -> None:
    """torch.cuda as on a card of compute capability `major`.x, on which a bf16 tensor can be made
    (T4 and V100 emulate bf16)."""
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: SimpleNamespace(major=major, minor=0))
    monkeypatch.setattr(torch.cuda, "_check_bf16_tensor_supported", lambda d: True)


# -- 2. native bf16 only ------------------------------------------------------------------------------


@pytest.mark.parametrize(("major", "dtype"), [(7, torch.float16), (8, torch.bfloat16), (9, torch.bfloat16)])
def test_amp_uses_bf16_only_where_the_card_has_it_natively(monkeypatch, major, dtype):
    _gpu_of_major(monkeypatch, major)
    _, chosen = inference.autocast_for(torch.device("cuda", 0), True)
    assert chosen == dtype  # T4/V100 (7.x): fp16 + GradScaler, not emulated bf16
    assert inference.autocast_for(torch.device("cpu"), True)[1] is None
    assert inference.autocast_for(torch.device("cuda", 0), False)[1] is None


# -- 3. float32 master weights ------------------------------------------------------------------------


def _half_precision_copy(src, dst, dtype):
    from transformers import AutoModel

    shutil.copytree(src, dst)
    AutoModel.from_pretrained(str(src), dtype=torch.float32).to(dtype).save_pretrained(str(dst))
    assert json.loads((dst / "config.json").read_text())["dtype"] == str(dtype).removeprefix("torch.")


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_an_encoder_saved_in_half_precision_loads_in_float32(tmp_path, tiny_encoder_dir, dtype):
    half = tmp_path / "half"
    _half_precision_copy(tiny_encoder_dir, half, dtype)
    for encoder in (backbone.load_encoder(str(half), "sdpa"), backbone.encoder_from_config(str(half), "sdpa")):
        assert {p.dtype for p in encoder.parameters()} == {torch.float32}


@pytest.mark.slow
def test_training_a_bf16_encoder_keeps_float32_weights(tmp_path, tiny_encoder_dir, demo_dir):
    half = tmp_path / "bf16"
    _half_precision_copy(tiny_encoder_dir, half, torch.bfloat16)
    loop.train(_cfg(tmp_path / "run", demo_dir, model=str(half), epochs=1, max_steps=2))
    weights = load_file(str(tmp_path / "run" / "checkpoint" / "model.safetensors"))
    assert {w.dtype for w in weights.values()} == {torch.float32}


# -- 4. one evaluation precision ------------------------------------------------------------------------


class _CpuAmp:
    """bf16 autocast on CPU standing in for GPU AMP; records whether it was entered with autograd on."""

    def __init__(self, dtype=torch.bfloat16):
        self.dtype, self.grad_enabled = dtype, []
        self._ctx = None

    def __enter__(self):
        self.grad_enabled.append(torch.is_grad_enabled())
        self._ctx = torch.autocast("cpu", dtype=self.dtype)
        return self._ctx.__enter__()

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def _amp_as_on_gpu(monkeypatch, amp: _CpuAmp) -> None:
    def autocast_for(device, enabled):
        return (amp, amp.dtype) if enabled else (contextlib.nullcontext(), None)

    monkeypatch.setattr(inference, "autocast_for", autocast_for)
    monkeypatch.setattr(loop, "autocast_for", autocast_for)


@pytest.mark.slow
def test_recorded_test_figures_are_what_evaluate_reproduces(monkeypatch, demo_dir, tmp_path, capsys):
    amp = _CpuAmp()
    _amp_as_on_gpu(monkeypatch, amp)
    loop.train(_cfg(tmp_path / "run", demo_dir, amp=True))
    assert amp.grad_enabled and all(amp.grad_enabled)  # AMP in the training steps, never in an evaluation

    ck = tmp_path / "run" / "checkpoint"
    recorded = json.loads((ck / "metrics.json").read_text())["test"]
    assert main(["evaluate", "--checkpoint", str(ck), "--device", "cpu", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for key in ("precision", "recall", "f1"):
        assert again[key] == recorded[key], key
    model, tokenizer, label_set, run_cfg, _ = load_model_checkpoint(ck)
    test = load_splits(run_cfg.data).test
    examples, _ = RelationEncoder(
        tokenizer, run_cfg.data.marker, run_cfg.data.max_seq_length, run_cfg.model.iel_include_markers
    ).encode(test, label_set)
    _, predicted = evaluate_examples(model, test, examples, label_set, 64, tokenizer.pad_token_id, torch.device("cpu"))
    assert predicted == (ck / loop.PREDICTIONS_FILE).read_text().split()


def test_predictions_use_full_precision_matmuls_even_after_training_set_tf32():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, input_ids, attention_mask, with_spp=False, **_):
            seen.append(torch.get_float32_matmul_precision())
            return SimpleNamespace(logits=torch.zeros(input_ids.shape[0], 3))

    from selfre.encoding.encode import EncodedExample

    examples = [EncodedExample(input_ids=[1, 2, 3], iel=[0, 1, 1], e1=0, e2=1, label=0, index=i) for i in range(2)]
    with inference.float32_matmul_precision("high"):
        inference.predict_probs(Probe(), examples, 8, 0, torch.device("cpu"))
        assert torch.get_float32_matmul_precision() == "high"  # the caller's setting comes back
    assert seen == ["highest"]


# -- 6. fp16 leftovers ----------------------------------------------------------------------------------


class _StopAfterEpoch1(TrainHooks):
    def on_epoch_end(self, result, checkpoint_dir):
        if result.epoch == 1:
            raise KeyboardInterrupt


@pytest.mark.slow
def test_an_fp16_run_resumes_a_checkpoint_without_scaler_state(monkeypatch, demo_dir, tmp_path):
    """Written by a bf16 (or CPU) run, whose disabled GradScaler saved {}; resumed where AMP is fp16."""
    cfg = _cfg(tmp_path / "run", demo_dir, amp=True, device="cpu")
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg, hooks=_StopAfterEpoch1())
    _amp_as_on_gpu(monkeypatch, _CpuAmp(torch.float16))
    with mock.patch.object(torch.cuda, "is_available", lambda: True):  # a GPU process builds its scaler
        trainer = loop._Trainer(cfg.validate(), None)
        assert trainer.scaler.is_enabled()
        trainer.resume(tmp_path / "run" / "last")
    result = trainer.run(TrainHooks())
    assert [h.epoch for h in result.history] == [1, 2]
    assert all(torch.isfinite(torch.tensor(h.train_loss)) for h in result.history)


def test_spp_column_sums_stay_float32_under_fp16_autocast():
    """24 layers x 16 heads x 256 query rows all attending to token 0: its column sum, 98,304, is past fp16's
    largest value; computed under fp16 autocast it must still be exact, not inf."""
    b, h, n, layers = 1, 16, 256, 24
    a = torch.zeros(b, h, n, n)
    a[..., 0] = 1.0
    mask = torch.ones(b, n, dtype=torch.long)
    reference = column_mean_attention([a] * layers, mask)
    with torch.autocast("cpu", dtype=torch.float16):
        under_amp = column_mean_attention([a.half()] * layers, mask)
    assert torch.isfinite(under_amp).all()
    torch.testing.assert_close(under_amp, reference, rtol=0, atol=0)


def test_fused_spp_and_the_loss_stay_float32_under_bf16_autocast():
    torch.manual_seed(0)
    b, h, n, d = 2, 4, 40, 8
    mask = torch.ones(b, n, dtype=torch.long)
    mask[1, 30:] = 0
    qk = [(torch.randn(b, h, n, d), torch.randn(b, h, n, d), d**-0.5) for _ in range(3)]
    iel = torch.zeros(b, n)
    iel[:, 3:6] = 1
    loss = SPPLoss()
    ref_alpha = column_mean_from_queries_keys(qk, mask)
    ref_loss, _ = loss(ref_alpha, iel, mask)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        alpha = column_mean_from_queries_keys(qk, mask)
        value, _ = loss(alpha, iel, mask)
    assert alpha.dtype == value.dtype == torch.float32
    torch.testing.assert_close(alpha, ref_alpha, rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(value, ref_loss, rtol=1e-6, atol=1e-9)


# -- 5. device mapping ------------------------------------------------------------------------------------


def test_a_ray_worker_trains_on_ray_trains_device_not_the_configs(monkeypatch):
    import ray.train.torch

    from selfre.search.worker import worker_device

    monkeypatch.setattr(ray.train.torch, "get_device", lambda: torch.device("cuda", 3))
    assert worker_device("cuda:0", use_gpu=True) == "cuda:3"  # rank 3's GPU, not every rank's cuda:0
    assert worker_device("auto", use_gpu=True) == "cuda:3"
    assert worker_device("cuda:0", use_gpu=False) == "cpu"  # no GPU assigned: none taken
    assert worker_device("auto", use_gpu=False) == "cpu"


@pytest.mark.parametrize(("visible", "local_rank", "ordinal"), [(8, 5, 5), (1, 5, 0), (1, 0, 0), (2, 1, 1)])
def test_torchrun_picks_the_visible_gpu_of_its_local_rank(monkeypatch, visible, local_rank, ordinal):
    chosen, backends = [], []
    monkeypatch.setenv("WORLD_SIZE", "8")
    monkeypatch.setenv("RANK", str(local_rank))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: visible)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(ddp.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(ddp.dist, "init_process_group", backends.append)
    assert ddp.init_from_env()
    assert chosen == [ordinal] and backends == ["nccl"]


def test_a_local_rank_without_its_gpu_is_refused_naming_it():
    with pytest.raises(ConfigError, match="LOCAL_RANK=3 but this process sees 2 GPUs"):
        ddp.local_cuda_ordinal(3, 2)


# -- 7. placement -------------------------------------------------------------------------------------------


def test_multi_worker_gpu_trials_are_strictly_packed_on_one_node():
    from selfre.search.trainable import scaling_config

    config = scaling_config(TrialResources(2, 4, 1).validate())
    assert config.placement_strategy == "STRICT_PACK" and config.num_workers == 2 and config.use_gpu
    assert scaling_config(TrialResources(1, 4, 1)).placement_strategy == "PACK"
    assert scaling_config(TrialResources(2, 1, 0)).placement_strategy == "PACK"  # CPU: gloo over a network is fine
    assert scaling_config(TrialResources(2, 4, 1, "PACK").validate()).placement_strategy == "PACK"  # asked otherwise


def test_two_gpus_per_worker_is_refused_naming_the_flag():
    with pytest.raises(
        ConfigError, match=r"--gpus-per-worker 2: a worker trains on one GPU.*--workers-per-trial 2 --gpus-per-worker 1"
    ):
        TrialResources(1, 4, 2).validate()
    with pytest.raises(ConfigError, match="--placement"):
        TrialResources(2, 4, 1, "NEARBY").validate()


def test_the_placement_flag_reaches_the_plan(tmp_path):
    from selfre.cli.search_cmd import build_parser, plan_from_args
    from selfre.search.plan import BUNDLED_CONFIGS

    args = build_parser().parse_args(
        [
            "--dataset",
            "demo",
            "--data-dir",
            str(tmp_path),
            "--storage",
            str(tmp_path / "runs"),
            "--gpus-per-worker",
            "1",
            "--placement",
            "SPREAD",
        ]
    )
    plan = plan_from_args(args, BUNDLED_CONFIGS)
    assert plan.resources().placement_strategy == "SPREAD"


# -- 8. host syncs --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_training_epoch_reads_nothing_back_per_step(monkeypatch, demo_dir, tmp_path):
    trainer = loop._Trainer(_cfg(tmp_path / "run", demo_dir, batch_size=8).validate(), None)
    reads = []
    item = torch.Tensor.item

    def counted(self):
        # A read of the forward's results (or of sums of them) waits for the GPU; the optimizer's step
        # counters, also read with .item(), live on the CPU.
        if self.grad_fn is not None or self.dtype == torch.float64:
            reads.append(self)
        return item(self)

    monkeypatch.setattr(torch.Tensor, "item", counted)
    loss, _, _ = trainer.train_epoch(1)
    assert trainer.step == 8 and loss > 0
    assert reads == []  # the losses are summed on the device and read once, at the epoch's end


def test_training_matmuls_use_tf32_on_gpu_only():
    before = torch.get_float32_matmul_precision()
    with inference.training_matmuls(torch.device("cuda", 0)):
        assert torch.get_float32_matmul_precision() == "high"
    with inference.training_matmuls(torch.device("cpu")):
        assert torch.get_float32_matmul_precision() == before
    assert torch.get_float32_matmul_precision() == before
