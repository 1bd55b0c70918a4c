"""Where the checkpoint is in a folder `Predictor.from_pretrained` is given.

Two kinds of folder hold a selfre model:
  * a checkpoint folder (`selfre train`'s OUT/checkpoint: model.safetensors, encoder/, tokenizer/, labels.json ...);
  * an MLflow model folder (`selfre export`, or a registered model downloaded from MLflow): an `MLmodel` file
    whose pyfunc flavour names the checkpoint among its artifacts (`artifacts/checkpoint`).
Read with PyYAML, not MLflow: the selfre core (and `pip install selfre` without extras) never needs MLflow.
"""

from __future__ import annotations

from pathlib import Path

from selfre.errors import SelfreError

MLMODEL = "MLmodel"
# The artifact name the pyfunc model gives the checkpoint (selfre.tracking.pyfunc_model logs it under it).
ARTIFACT = "checkpoint"


def checkpoint_in(folder: str | Path) -> Path:
    """-> the checkpoint folder: `folder` itself, or the checkpoint artifact of the MLflow model in it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SelfreError(f"{folder}: no such folder (expected a selfre checkpoint or an exported model)")
    mlmodel = folder / MLMODEL
    if not mlmodel.is_file():
        return folder  # a plain checkpoint; loading it names any missing file
    import yaml

    meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    artifact = (((meta.get("flavors") or {}).get("python_function") or {}).get("artifacts") or {}).get(ARTIFACT)
    if not isinstance(artifact, dict) or not artifact.get("path"):
        raise SelfreError(f"{mlmodel}: an MLflow model without a selfre checkpoint (no pyfunc artifact '{ARTIFACT}')")
    return folder / artifact["path"]
