"""A selfre checkpoint as an MLflow pyfunc model, logged as code (MLflow's models-from-code: `pyfunc_code.py`).

Request: relation instances, one object each (`RelationInstance`), in either shape of `selfre.predict.inputs`:
    text (str) + subj/obj character spans [start, end)     or     tokens (list[str]) + subj/obj token spans
  optional: subj_type, obj_type (e.g. PERSON), id. Both shapes may be mixed in one request.
    served:  POST /invocations  {"inputs": [{"text": "Bill Gates founded Microsoft.", "subj": [0, 10], "obj": [19, 28]}]}
    Python:  model.predict([{...}, ...])  or a DataFrame with those columns (cells a row lacks may be empty)
Response: one `RelationPrediction` per instance: label, probability (NaN when the entities do not fit
max_seq_length), id (the request's, else the instance's position).
The schema is derived from the type hints of `SelfrePyfunc.predict`; MLflow validates every request against it, so a
missing `subj` is rejected (HTTP 400) before the model runs, and so is a record the Predictor refuses (spans out of
range). The only artifact is the checkpoint folder; prediction is `selfre.predict.Predictor` itself.

How selfre reaches the serving environment: the selfre package folder travels inside the model (`code_paths` ->
code/selfre, on sys.path when the model loads), and requirements.txt lists selfre's own runtime dependencies plus
what this module imports, each pinned to the version that logged the model, without local version labels
(`torch==2.13.0`, never `+cpu`): all on the public index. So `mlflow models serve` can build the environment with any
env manager (virtualenv, uv, conda: a PyPI index suffices), and `--env-manager local` works wherever those packages
are installed. Why not `selfre` as a pip requirement: selfre is not on PyPI, so no fresh environment could install
it; and the shipped code is exactly the code that trained the weights, so they cannot drift apart.
"""

import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow.pyfunc
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from packaging.requirements import Requirement
from packaging.version import Version
from pydantic import BaseModel

from selfre.errors import SelfreError
from selfre.predict.model_folder import ARTIFACT

# The selfre package folder, shipped inside the model (code_paths) so serving needs no selfre install.
SELFRE_PACKAGE = Path(__file__).resolve().parents[1]
MODEL_CODE = Path(__file__).with_name("pyfunc_code.py")
# Imported by the pyfunc itself, beyond selfre's own dependencies (MLflow's scoring server, its request schema).
SERVING_PACKAGES = ("mlflow", "pandas", "pydantic")


class RelationInstance(BaseModel):
    """One relation instance; spans are [start, end), end-exclusive: characters of `text` or indices of `tokens`."""

    subj: list[int]
    obj: list[int]
    text: str | None = None
    tokens: list[str] | None = None
    subj_type: str | None = None
    obj_type: str | None = None
    id: str | None = None


class RelationPrediction(BaseModel):
    label: str
    probability: float  # NaN: the entities do not fit max_seq_length, the label is then no_relation
    id: str


# A fixed, made-up example (never a training record: nothing from a licensed corpus leaves the project).
INPUT_EXAMPLE = [
    {
        "text": "Ada Lovelace was born in London.",
        "subj": [0, 12],
        "obj": [25, 31],
        "subj_type": "PERSON",
        "obj_type": "CITY",
    }
]


class SelfrePyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from selfre.predict import Predictor

        self.predictor = Predictor(context.artifacts[ARTIFACT], device="cpu")

    def predict(
        self, model_input: list[RelationInstance], params: dict[str, Any] | None = None
    ) -> list[RelationPrediction]:
        from selfre.errors import DataError

        records = [instance.model_dump(exclude_none=True) for instance in model_input]
        try:
            preds = self.predictor.predict(records, source="request")
        except DataError as exc:  # a bad record: the client's fault, said plainly (HTTP 400, not a stack trace)
            raise MlflowException.invalid_parameter_value(str(exc)) from None
        return [RelationPrediction(label=p.label, probability=p.probability, id=p.id) for p in preds]


def public_pin(name: str) -> str:
    """`name==version` of the installed distribution, without a local label (+cpu, +cu130) no public index serves."""
    return f"{name}=={Version(metadata.version(name)).public}"


def pip_requirements() -> list[str]:
    """selfre's runtime dependencies (the installed distribution's metadata: pyproject.toml, extras left out) and
    SERVING_PACKAGES, pinned publicly: serving in a fresh environment rebuilds the versions that logged the model."""
    try:
        declared = [Requirement(r) for r in metadata.requires("selfre") or []]
    except metadata.PackageNotFoundError:
        raise SelfreError(
            "selfre is not installed (pip install -e .): its dependency list comes from its package metadata"
        ) from None
    names = [r.name for r in declared if r.marker is None or r.marker.evaluate({"extra": ""})]
    return [public_pin(name) for name in dict.fromkeys([*names, *SERVING_PACKAGES])]


def _pin_build_dependencies(model_dir: Path) -> None:
    """MLflow writes python_env.yaml's build dependencies from what is installed: `wheel` unpinned when it is not
    (modern pip builds wheels without it), and local labels as they are. Keep only what is installed, pinned publicly."""
    path = model_dir / "python_env.yaml"
    env = yaml.safe_load(path.read_text())
    installed = [Requirement(d).name for d in env.get("build_dependencies") or [] if "==" in d]
    env["build_dependencies"] = [public_pin(name) for name in installed]
    path.write_text(yaml.safe_dump(env, sort_keys=False))


def _save_model(path, **kwargs) -> None:
    mlflow.pyfunc.save_model(path, **kwargs)
    _pin_build_dependencies(Path(path))


# `Model.log` saves through a flavour's `save_model(path, mlflow_model, **kwargs)`: pyfunc's, then pinned.
_PINNED_PYFUNC = SimpleNamespace(__name__="mlflow.pyfunc", save_model=_save_model)


def _model_kwargs(checkpoint_dir) -> dict:
    return {
        "python_model": str(
            MODEL_CODE
        ),  # models-from-code: no pickled object; the signature comes from predict's hints
        "artifacts": {ARTIFACT: str(checkpoint_dir)},
        "code_paths": [str(SELFRE_PACKAGE)],
        "input_example": INPUT_EXAMPLE,
        "pip_requirements": pip_requirements(),
    }


def log_model(checkpoint_dir: str, name: str = "model", registered_model_name: str | None = None):
    """Log inside the active run -> `ModelInfo` (its `model_uri` registers it)."""
    return Model.log(
        None,
        name=name,
        flavor=_PINNED_PYFUNC,
        flavor_name="pyfunc.ModelFromCode",
        registered_model_name=registered_model_name,
        **_model_kwargs(checkpoint_dir),
    )


def save_model(checkpoint_dir, path) -> None:
    """An MLflow model folder at `path` (must not exist or be empty), no tracking server involved."""
    _save_model(str(path), **_model_kwargs(checkpoint_dir))


def export_model(checkpoint_dir, out) -> Path:
    """`selfre export`: the checkpoint as a self-contained MLflow model folder at `out`. Written beside `out` and
    moved into place at the end, so a failure leaves neither a half-written `out` nor any other change."""
    from selfre.train.checkpoint import read_checkpoint_meta

    checkpoint_dir, out = Path(checkpoint_dir), Path(out)
    read_checkpoint_meta(checkpoint_dir)  # not a checkpoint: the error names the missing files, nothing written
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SelfreError(f"{out} exists and is not empty: export into a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=out.parent))
    try:
        save_model(checkpoint_dir, staging / "model")
        if out.exists():
            out.rmdir()  # empty (checked above)
        (staging / "model").rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
