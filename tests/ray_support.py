"""What the Ray test modules share besides the `ray_session` fixture (conftest.py): the MLflow store a search
keeps at its storage root."""

from __future__ import annotations

from pathlib import Path


def mlflow_runs(storage: Path, dataset: str = "demo") -> tuple:
    """(client, search runs, trial runs) of the embedded MLflow store a search keeps at its storage root."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"selfre-{dataset}")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    kinds = {k: [r for r in runs if r.data.tags.get("selfre.kind") == k] for k in ("search", "trial")}
    return client, kinds["search"], kinds["trial"]
