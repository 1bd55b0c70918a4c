"""The global batch (docs/method.md §6): `train.batch_size` examples per optimizer step whatever the worker count.

The end-to-end check runs `selfre train` once in one process and once under `torchrun --nproc-per-node 2`
(gloo on CPU, the process group opened by selfre itself) with the same config and seed, on an encoder
without dropout (dropout masks are per process, so they would differ by construction): the per-step
training losses and the trained weights must agree to float tolerance, and only rank 0 writes the run folder.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from support import env_without, free_port

from selfre.cli import main
from selfre.config import per_rank_batch
from selfre.data.demo import generate_demo
from selfre.errors import ConfigError
from selfre.train import distributed as ddp


def test_global_batches_do_not_depend_on_the_world_size():
    batches = ddp.global_batches(13, 8, seed=42, epoch=1)
    assert [len(b) for b in batches] == [8, 5]
    assert sorted(i for b in batches for i in b) == list(range(13))
    for world in (2, 4):
        for batch in batches:
            shares = [ddp.rank_share(batch, r, world) for r in range(world)]
            assert sorted(i for s in shares for i in s) == sorted(batch)  # the batch, split, nothing else
    assert ddp.global_batches(13, 8, seed=42, epoch=2) != batches  # a new order every epoch


def test_loss_scale_makes_ddp_average_the_global_mean():
    # Per-example losses of a 5-example batch split 3/2 over 2 ranks: DDP averages the ranks' scaled means.
    losses = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0])
    shares = [losses[0::2], losses[1::2]]  # [0.5, 2, 8] and [1, 4]
    averaged = sum(ddp.loss_scale(len(s), 5, 2) * s.mean() for s in shares) / 2
    assert float(averaged) == pytest.approx(float(losses.mean()))
    assert ddp.loss_scale(0, 1, 2) == 0.0


def test_a_batch_that_does_not_divide_is_refused():
    assert per_rank_batch(32, 2) == 16
    with pytest.raises(ConfigError, match=r"train.batch_size=30 .* 4 data-parallel workers .* multiple of 4"):
        per_rank_batch(30, 4)


@pytest.mark.slow
def test_one_and_two_ddp_workers_train_the_same_steps(tmp_path, tiny_encoder_dir):
    data = tmp_path / "demo"
    generate_demo(data, seed=5, n_train=13, n_dev=8, n_test=8)
    # 13 examples in global batches of 8: steps of 8 and 5 (split 4/4 and 3/2 on two ranks). One step per
    # epoch would hide nothing: the per-epoch loss is the mean over the epoch's examples, and 3 epochs of
    # 2 steps make 6 optimizer steps whose weights are compared at the end. Uncertainty weighting puts the
    # batch-independent ½s_k terms into the loss too.
    flags = [
        "train",
        "--dataset",
        "demo",
        "--data-dir",
        str(data),
        "--model",
        str(tiny_encoder_dir),
        "--max-seq-length",
        "256",
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--dropout",
        "0",
        "--weighting",
        "uncertainty",
        "--seed",
        "7",
        "--no-progress",
        "--num-threads",
        "1",
    ]
    assert main([*flags, "--out", str(tmp_path / "one")]) == 0
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        "-m",
        "selfre",
        *flags,
        "--out",
        str(tmp_path / "two"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env_without("PYTEST_"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"checkpoint"') == 1  # rank 0 alone reports (and writes) the run

    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert [h["step"] for h in two["history"]] == [2, 4, 6]
    for a, b in zip(one["history"], two["history"], strict=True):
        for key in ("train_loss", "loss_re", "loss_spp"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (key, a["epoch"])
        assert b["sigmas"] == pytest.approx(a["sigmas"], rel=1e-4)
    w1 = load_file(str(tmp_path / "one" / "last" / "model.safetensors"))
    w2 = load_file(str(tmp_path / "two" / "last" / "model.safetensors"))
    assert w1.keys() == w2.keys()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5, msg=k)
    assert not any(p.name.startswith(".") for p in (tmp_path / "two").iterdir())  # no half-written temp folders
