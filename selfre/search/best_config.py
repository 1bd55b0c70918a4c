"""best_config.json: the chosen configuration as a `selfre train --config` file, with how its trial ran.

The RunConfig (base + params + the chosen seed; summary.best_run_config) says what to train. Its trial's
figures also depend on what the search's resources decided — W data-parallel workers, torch threads per
worker, the device type — so those go into the file's `reproduce` section (selfre.reproduce), which
`selfre train` reads and a new search or ablation ignores.
"""

from __future__ import annotations

from selfre.config import RunConfig
from selfre.reproduce import SECTION, TrainedWith


def best_config_file(plan, chosen: dict) -> dict:
    """`plan`: the SearchPlan whose trials trained `chosen` (a summary configuration with its run_config)."""
    resources = plan.resources()
    train = RunConfig.from_dict(chosen["run_config"]).train
    # As the trial's worker resolved them (worker.train_loop_per_worker): a CPU trial on a GPU node runs on cpu.
    device = train.device.split(":")[0] if train.device != "auto" else ("cuda" if resources.use_gpu else "cpu")
    trained = TrainedWith(
        world_size=resources.workers,
        threads_per_worker=train.num_threads or resources.threads_per_worker(),
        device=device,
    )
    return {**chosen["run_config"], SECTION: trained.to_dict()}
