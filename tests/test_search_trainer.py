"""LeanTorchTrainer: Ray Train's default callbacks minus the Ray Data machinery, pinned to the installed Ray.

Under xdist, one worker runs this module with every other user of the embedded Ray (conftest.EMBEDDED_RAY_MODULES).
"""

from __future__ import annotations

import pytest

pytest.importorskip("ray.train")

import ray  # noqa: E402
from ray.train import RunConfig, ScalingConfig  # noqa: E402
from ray.train.torch import TorchTrainer  # noqa: E402

from selfre.search.trainer import DROPPED_WITHOUT_DATASETS, EXPECTED_CALLBACKS, LeanTorchTrainer  # noqa: E402

# Settings that add or remove default callbacks: the pin is of Ray's defaults.
_CALLBACK_SWITCHES = (
    "RAY_TRAIN_CALLBACKS",
    "RAY_CHDIR_TO_TRIAL_DIR",
    "RAY_TRAIN_METRICS_ENABLED",
    "RAY_TRAIN_ENABLE_NCCL_HANG_DETECTOR",
    "RAY_TRAIN_ENABLE_STATE_TRACKING",
)


def _loop(config):
    pass


def _no_dataset():
    raise AssertionError("never called: the callbacks are only listed")


def _names(trainer) -> list[str]:
    return [type(cb).__name__ for cb in trainer._create_default_callbacks()]


@pytest.fixture
def ray_defaults(monkeypatch):
    for key in _CALLBACK_SWITCHES:
        monkeypatch.delenv(key, raising=False)


def test_the_default_callback_set_is_the_one_pinned_for_this_ray(ray_defaults):
    """An upgrade that changes Ray Train's defaults fails here: re-read `_create_default_callbacks`, then move the pin."""
    pinned = EXPECTED_CALLBACKS.get(ray.__version__)
    assert pinned is not None, (
        f"LeanTorchTrainer is not checked against Ray {ray.__version__}: see selfre/search/trainer.py"
    )
    assert _names(TorchTrainer(_loop, scaling_config=ScalingConfig(num_workers=2))) == list(pinned)


def test_lean_trainer_drops_only_the_datasets_callback_and_only_without_datasets(ray_defaults):
    stock = _names(TorchTrainer(_loop, scaling_config=ScalingConfig(num_workers=2)))
    lean = _names(LeanTorchTrainer(_loop, scaling_config=ScalingConfig(num_workers=2)))
    assert lean == [name for name in stock if name not in DROPPED_WITHOUT_DATASETS]
    assert "DatasetsCallback" in stock and "DatasetsCallback" not in lean
    # A dataset factory (Ray calls it when the workers start): a real Dataset here would start Ray in this process.
    with_data = LeanTorchTrainer(_loop, scaling_config=ScalingConfig(num_workers=1), datasets={"train": _no_dataset})
    assert "DatasetsCallback" in _names(with_data)


def test_a_lean_run_trains_and_starts_no_dataset_manager(ray_session, tmp_path, monkeypatch):
    from ray.util.state import list_actors

    monkeypatch.setenv("RAY_ADDRESS", ray_session)  # the state API's cluster: this one, even beside another

    def loop(config):  # defined here: pickled by value, as the workers cannot import this test module
        import tempfile

        with tempfile.TemporaryDirectory() as folder:  # Train V2 keeps the metrics of checkpointed reports
            ray.train.report(
                {"world": ray.train.get_context().get_world_size()}, checkpoint=ray.train.Checkpoint(folder)
            )

    result = LeanTorchTrainer(
        loop,
        scaling_config=ScalingConfig(num_workers=1, resources_per_worker={"CPU": 0.5}),
        run_config=RunConfig(name="lean", storage_path=str(tmp_path)),
    ).fit()
    assert result.error is None and result.metrics["world"] == 1
    managers = list_actors(filters=[("class_name", "=", "DatasetManager")], raise_on_missing_output=False)
    assert managers == []
