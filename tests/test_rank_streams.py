"""Random streams per DDP rank (selfre.train.rng): distinct dropout per rank, saved and restored per rank,
and the CUDA state of the process's own device only (a checkpoint resumes where fewer GPUs are visible)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from unittest import mock

import pytest
import torch
from safetensors.torch import load_file
from support import env_without, free_port

from selfre.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from selfre.data.demo import generate_demo
from selfre.train import rng

# Trains under torchrun; on epoch 1 every rank records a dropout mask drawn from its stream (without
# consuming it) and, in mode "crash", stops right after the epoch-1 checkpoint is written.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    from selfre.config import RunConfig
    from selfre.train import distributed as ddp
    from selfre.train.loop import train
    from selfre.train.results import TrainHooks

    cfg_file, mode = sys.argv[1], sys.argv[2]
    cfg = RunConfig.from_dict(json.loads(Path(cfg_file).read_text()))

    class Hooks(TrainHooks):
        def on_epoch_end(self, result, checkpoint_dir):
            rank, _ = ddp.rank_world()
            if result.epoch == 1 and mode != "resume":
                with torch.random.fork_rng(devices=[]):
                    mask = torch.nn.functional.dropout(torch.ones(64), 0.5).tolist()
                Path(cfg.out_dir, f"mask{rank}.json").write_text(json.dumps(mask))
                if mode == "crash":
                    raise SystemExit(3)

    ddp.init_from_env()
    train(cfg, hooks=Hooks(), resume_from=Path(cfg.out_dir) / "last" if mode == "resume" else None)
    ddp.close()
    """
)


def _torchrun(tmp_path, cfg: RunConfig, mode: str) -> subprocess.CompletedProcess:
    cfg_file = tmp_path / f"{mode}-{abs(hash(cfg.out_dir))}.json"
    cfg_file.write_text(json.dumps(cfg.to_dict()))
    script = tmp_path / "rank_streams_script.py"
    script.write_text(SCRIPT)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(free_port()),
        str(script),
        str(cfg_file),
        mode,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env_without("PYTEST_"))


@pytest.mark.slow
def test_two_ranks_draw_their_own_dropout_and_resume_it(tmp_path, tiny_encoder_dir):
    data = tmp_path / "demo"
    generate_demo(data, seed=5, n_train=32, n_dev=8, n_test=8)

    def cfg(out: str) -> RunConfig:
        return RunConfig(
            data=DataConfig(dataset="demo", data_dir=str(data), max_seq_length=128),
            model=ModelConfig(model_name_or_path=str(tiny_encoder_dir), dropout=0.3),
            train=TrainConfig(epochs=2, batch_size=8, learning_rate=1e-3, seed=7, progress=False, num_threads=1),
            out_dir=str(tmp_path / out),
        )

    full = _torchrun(tmp_path, cfg("full"), "full")
    assert full.returncode == 0, full.stderr[-3000:]
    mask0 = json.loads((tmp_path / "full" / "mask0.json").read_text())
    mask1 = json.loads((tmp_path / "full" / "mask1.json").read_text())
    assert mask0 != mask1  # each rank draws its own dropout

    crashed = _torchrun(tmp_path, cfg("part"), "crash")
    assert crashed.returncode != 0
    state = torch.load(tmp_path / "part" / "last" / "training_state.pt", weights_only=False)
    assert len(state["rng"]["ranks"]) == 2  # rank 0 saved every rank's stream
    resumed = _torchrun(tmp_path, cfg("part"), "resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a = load_file(str(tmp_path / "full" / "last" / "model.safetensors"))
    b = load_file(str(tmp_path / "part" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=1e-6, msg=k)


def test_rank_zero_keeps_the_seed_stream_and_other_ranks_get_their_own():
    assert rng.rank_seed(7, 0) == 7  # a 1-worker run draws what it always drew
    seeds = {rng.rank_seed(7, r) for r in range(8)}
    assert len(seeds) == 8 and all(0 <= s < 2**32 for s in seeds)
    assert rng.rank_seed(7, 1) == rng.rank_seed(7, 1) != rng.rank_seed(8, 1)


class FakeCuda:
    """Per-device generator states of `visible` CUDA devices, with torch.cuda's indexing rules: a device
    index past the visible ones raises (as `torch.cuda.set_rng_state` does for an invalid ordinal)."""

    def __init__(self, visible: int):
        self.states = [torch.full((16,), i, dtype=torch.uint8) for i in range(visible)]

    def _index(self, device) -> int:
        i = torch.device(device).index if not isinstance(device, int) else device
        i = 0 if i is None else i
        if i >= len(self.states):
            raise IndexError(f"invalid device ordinal {i}: {len(self.states)} visible")
        return i

    def get_rng_state(self, device="cuda"):
        return self.states[self._index(device)].clone()

    def set_rng_state(self, state, device="cuda"):
        self.states[self._index(device)] = state.clone()

    def get_rng_state_all(self):
        return [s.clone() for s in self.states]

    def set_rng_state_all(self, states):
        for i, s in enumerate(states):
            self.set_rng_state(s, i)

    def patch(self):
        names = ("get_rng_state", "set_rng_state", "get_rng_state_all", "set_rng_state_all")
        patches = [mock.patch.object(torch.cuda, n, getattr(self, n)) for n in names]
        patches += [
            mock.patch.object(torch.cuda, "is_available", lambda: True),
            mock.patch.object(torch.cuda, "device_count", lambda: len(self.states)),
        ]
        return patches


def _under(fake: FakeCuda, fn):
    patches = fake.patch()
    for p in patches:
        p.start()
    try:
        return fn()
    finally:
        for p in reversed(patches):
            p.stop()


def test_a_checkpoint_from_an_8_gpu_process_resumes_where_one_gpu_is_visible(tmp_path):
    """Written by a process that saw 8 GPUs and trained on cuda:0; resumed by one that sees 1."""
    from selfre.train import loop

    trainer = loop._Trainer.__new__(loop._Trainer)  # only the RNG part of a trainer is exercised here
    trainer.device, trainer.world, trainer.rank = torch.device("cuda", 0), 1, 0
    on_p4d = FakeCuda(visible=8)
    on_p4d.states[0] = torch.full((16,), 42, dtype=torch.uint8)
    saved = {"ranks": _under(on_p4d, trainer.rank_rng_states)}
    torch.save(saved, tmp_path / "rng.pt")
    loaded = torch.load(tmp_path / "rng.pt", weights_only=False)

    on_g5 = FakeCuda(visible=1)
    _under(on_g5, lambda: rng.restore_rank_state(loaded, 0, 7, 10, torch.device("cuda", 0)))
    assert on_g5.states[0].tolist() == [42] * 16  # its own device's stream, restored


def test_old_checkpoints_with_one_state_per_visible_device_still_resume():
    legacy = {
        "python": __import__("random").getstate(),
        "numpy": __import__("numpy").random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": [torch.full((16,), 9, dtype=torch.uint8)] * 8,
    }
    on_g5 = FakeCuda(visible=1)
    _under(on_g5, lambda: rng.restore_rank_state(legacy, 0, 7, 10, torch.device("cuda", 0)))
    assert on_g5.states[0].tolist() == [9] * 16
