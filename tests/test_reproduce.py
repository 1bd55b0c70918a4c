"""best_config.json's `reproduce` section (selfre.reproduce): read, checked, applied, compared."""

from __future__ import annotations

import json

import pytest

from selfre import reproduce
from selfre.config import RunConfig
from selfre.errors import ConfigError


def _file(tmp_path, section) -> str:
    path = tmp_path / "best_config.json"
    path.write_text(json.dumps({"train": {"seed": 52}, "reproduce": section}))
    return str(path)


def test_the_record_fills_only_what_the_config_leaves_open_and_names_what_differs(tmp_path):
    trained = reproduce.read(
        _file(tmp_path, {"world_size": 2, "threads_per_worker": 3, "device": "cpu", "command": "x"})
    )
    assert trained == reproduce.TrainedWith(2, 3, "cpu")
    cfg = RunConfig()
    reproduce.apply(cfg, trained)
    assert (cfg.train.num_threads, cfg.train.device) == (3, "cpu")
    mine = RunConfig()
    mine.train.num_threads, mine.train.device = 1, "cuda:1"  # set by the file or a flag: they win
    reproduce.apply(mine, trained)
    assert (mine.train.num_threads, mine.train.device) == (1, "cuda:1")
    on_gpu = RunConfig()
    reproduce.apply(on_gpu, reproduce.TrainedWith(1, 1, "cuda"))
    assert on_gpu.train.device == "auto"  # auto picks the GPU where there is one; never forced onto a missing one
    assert reproduce.differences(trained, 2, "cpu") == []
    assert reproduce.differences(trained, 1, "cuda") == [
        "1 data-parallel worker(s), the trial 2 (re-train with: torchrun --nproc-per-node 2 -m selfre train "
        "--config best_config.json --out OUT)",
        "device cuda, the trial cpu",
    ]
    assert reproduce.command(1) == "selfre train --config best_config.json --out OUT"
    assert reproduce.read(None) is None


@pytest.mark.parametrize(
    "section, fragment",
    [
        (
            {"world_size": 0, "threads_per_worker": 1, "device": "cpu"},
            "reproduce.world_size: expected a whole number >= 1",
        ),
        ({"world_size": 2, "threads_per_worker": "4", "device": "cpu"}, "reproduce.threads_per_worker"),
        ({"world_size": 2, "threads_per_worker": 1, "device": "tpu"}, "reproduce.device: expected one of cpu, cuda"),
        ({"world_size": 2, "device": "cpu"}, "reproduce.threads_per_worker is missing"),
        ([2, 1, "cpu"], "reproduce: expected a mapping"),
    ],
)
def test_a_bad_record_names_the_file_and_the_key(tmp_path, section, fragment):
    path = _file(tmp_path, section)
    with pytest.raises(ConfigError, match=fragment) as err:
        reproduce.read(path)
    assert path in str(err.value)
