"""`LeanTorchTrainer`: Ray Train's `TorchTrainer` without the per-run machinery this platform never uses.

`DataParallelTrainer._create_default_callbacks` (Ray 2.60) adds a `DatasetsCallback` to every run, Ray
Datasets or not. With none passed it still starts a `DatasetManager` actor (one more Python process per trial,
through `setup_worker.py`) and ships a copy of Ray Data's `DataContext` to the controller and to every worker,
so each of them imports `ray.data` and pandas. selfre's workers read their data themselves (selfre.data), so
the callback does nothing for a trial but cost CPU seconds; `LeanTorchTrainer` leaves it out when no `datasets`
are given and keeps every other callback (backend and accelerator setup, the placement-group cleaner, the
working-directory setup, metrics, the user's callbacks such as Tune's report callback) in Ray's order.

The hook is private to Ray Train, so `EXPECTED_CALLBACKS` pins the default set per Ray version:
tests/test_search_trainer.py fails on an upgrade that changes it, and the subclass must then be re-read
against the new `_create_default_callbacks` before the pin is moved.
"""

from __future__ import annotations

from ray.train.torch import TorchTrainer

# The default callbacks of a run with no Ray Datasets, for the Ray versions this subclass was checked against
# (with Ray's default settings: no env callbacks, no NCCL hang detector, no state tracking).
EXPECTED_CALLBACKS = {
    "2.60.0": (
        "AcceleratorSetupCallback",
        "BackendSetupCallback",
        "PlacementGroupCleanerCallback",
        "DatasetsCallback",
        "WorkingDirectorySetupCallback",
        "ControllerMetricsCallback",
        "WorkerMetricsCallback",
        "UserCallbackHandler",
    ),
}
DROPPED_WITHOUT_DATASETS = ("DatasetsCallback",)


class LeanTorchTrainer(TorchTrainer):
    """A `TorchTrainer` whose runs start no Ray Data machinery when they are given no `datasets`."""

    def _create_default_callbacks(self):
        callbacks = super()._create_default_callbacks()
        if self.datasets:
            return callbacks
        return [cb for cb in callbacks if type(cb).__name__ not in DROPPED_WITHOUT_DATASETS]
