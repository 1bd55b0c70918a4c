"""How a search trial ran beyond its RunConfig: the `reproduce` section of a search's best_config.json.

A trial's figures depend on more than its RunConfig. How its W data-parallel workers split each batch
decides the dropout draws and the order gradients are summed in, and a CPU worker's torch threads change
the order of float reductions:
the same config and seed on another W, another device type or another thread count trains to other
weights (figures close, not equal). The search records these facts next to the config, and `selfre train
--config best_config.json` uses them:

  world_size          data-parallel workers per trial: not settable from a config, the launcher decides
                      (`torchrun --nproc-per-node W`); a different W is reported before training
  threads_per_worker  torch CPU threads each worker ran with: used when the config leaves
                      train.num_threads at 0 (as the search's worker did)
  device              device type the trial trained on (cpu, cuda): a cpu trial re-trains on cpu when
                      train.device is auto, even on a GPU machine; a different device type is reported
                      before training
  command             the command line that re-trains it as the search did

Flags always win (--num-threads, --device). Everything else a faithful re-train needs is in the RunConfig
itself (data, model, seed, global batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selfre.config import load_yaml
from selfre.errors import ConfigError

SECTION = "reproduce"
DEVICE_TYPES = ("cpu", "cuda")


@dataclass(frozen=True)
class TrainedWith:
    world_size: int
    threads_per_worker: int
    device: str  # a device type: cpu or cuda

    def to_dict(self, config_file: str = "best_config.json") -> dict:
        return {
            "world_size": self.world_size,
            "threads_per_worker": self.threads_per_worker,
            "device": self.device,
            "command": command(self.world_size, config_file),
        }

    @classmethod
    def from_dict(cls, d, where: str) -> TrainedWith:
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: {SECTION}: expected a mapping, got {type(d).__name__} {d!r}")
        try:
            world, threads, device = d["world_size"], d["threads_per_worker"], d["device"]
        except KeyError as exc:
            raise ConfigError(f"{where}: {SECTION}.{exc.args[0]} is missing") from None
        for key, value in (("world_size", world), ("threads_per_worker", threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{where}: {SECTION}.{key}: expected a whole number >= 1, got {value!r}")
        if device not in DEVICE_TYPES:
            raise ConfigError(f"{where}: {SECTION}.device: expected one of {', '.join(DEVICE_TYPES)}, got {device!r}")
        return cls(world, threads, device)


def command(world_size: int, config_file: str = "best_config.json") -> str:
    run = f"selfre train --config {config_file} --out OUT"
    return run if world_size == 1 else f"torchrun --nproc-per-node {world_size} -m {run}"


def read(config_file: str | Path | None) -> TrainedWith | None:
    """The file's `reproduce` section, or None (a plain config file has none)."""
    if not config_file:
        return None
    section = load_yaml(config_file).get(SECTION)
    return None if section is None else TrainedWith.from_dict(section, str(config_file))


def apply(cfg, trained: TrainedWith) -> None:
    """Fill in what `cfg` leaves to the machine (train.num_threads 0, train.device auto) as the trial had it."""
    if not cfg.train.num_threads:
        cfg.train.num_threads = trained.threads_per_worker
    if cfg.train.device == "auto" and trained.device == "cpu":
        cfg.train.device = "cpu"  # (auto already picks cuda where there is one; without one, differences() says so)


def differences(trained: TrainedWith, world_size: int, device_type: str) -> list[str]:
    """What differs between the recorded trial and this run, each as a phrase; [] = reproduces it."""
    out = []
    if world_size != trained.world_size:
        out.append(
            f"{world_size} data-parallel worker(s), the trial {trained.world_size} "
            f"(re-train with: {command(trained.world_size)})"
        )
    if device_type != trained.device:
        out.append(f"device {device_type}, the trial {trained.device}")
    return out
