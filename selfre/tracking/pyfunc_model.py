"""A selfre checkpoint as an MLflow pyfunc model.

Input: a DataFrame, one relation instance per row, in either shape of `selfre.predict.inputs`:
    text (str) + subj/obj character spans [start, end)     or     tokens (list[str]) + subj/obj token spans
  optional columns: subj_type, obj_type (e.g. PERSON), id.
Output: a DataFrame with `label` and `probability` (NaN when the entities do not fit max_seq_length).
The model's only artifact is the checkpoint folder (weights, encoder config, tokenizer, labels.json =
the label map, config.json); prediction is `selfre.predict.Predictor` itself, and the selfre package is
shipped as model code (`code_paths`) so the model needs no selfre install.
"""

from __future__ import annotations

import math
from importlib.metadata import version
from pathlib import Path

import mlflow.pyfunc
from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, Array, ColSpec, DataType, Schema

ARTIFACT = "checkpoint"
# The selfre package folder, shipped inside the model (code_paths) so serving needs no selfre install.
SELFRE_PACKAGE = Path(__file__).resolve().parents[1]
INPUT_COLUMNS = ("id", "text", "tokens", "subj", "obj", "subj_type", "obj_type")
SIGNATURE = ModelSignature(
    inputs=Schema([
        ColSpec(DataType.string, "id", required=False),
        ColSpec(DataType.string, "text", required=False),
        # Any, not Array(string): in a request mixing `text` and `tokens` records pandas fills the missing cells
        # with NaN, which an Array column rejects. The Predictor checks tokens itself (a clear error per record).
        ColSpec(AnyType(), "tokens", required=False),
        ColSpec(Array(DataType.long), "subj"),
        ColSpec(Array(DataType.long), "obj"),
        ColSpec(DataType.string, "subj_type", required=False),
        ColSpec(DataType.string, "obj_type", required=False),
    ]),
    outputs=Schema([ColSpec(DataType.string, "label"), ColSpec(DataType.double, "probability")]),
)  # fmt: skip
# A fixed, made-up example (never a training record: nothing from a licensed corpus leaves the project).
INPUT_EXAMPLE = [{"text": "Ada Lovelace was born in London.", "subj": [0, 12], "obj": [25, 31],
                  "subj_type": "PERSON", "obj_type": "CITY"}]  # fmt: skip
# Pinned to the versions that logged the model: serving in a fresh environment rebuilds exactly these.
_PINNED = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "pandas", "pyyaml", "tqdm", "mlflow")


def pip_requirements() -> list[str]:
    return [f"{name}=={version(name)}" for name in _PINNED]


def _clean(value):
    """DataFrame cell -> plain Python: numpy arrays/ints -> lists/ints, missing -> None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [v if isinstance(v, str) else int(v) for v in value]
    return value


class SelfrePyfunc(mlflow.pyfunc.PythonModel):
    def load_context(self, context) -> None:
        from selfre.predict import Predictor

        self.predictor = Predictor(context.artifacts[ARTIFACT], device="cpu")

    def predict(self, context, model_input, params=None):
        import pandas as pd

        records = []
        for row in model_input.to_dict(orient="records"):
            rec = {k: _clean(row.get(k)) for k in INPUT_COLUMNS}
            records.append({k: v for k, v in rec.items() if v is not None})
        preds = self.predictor.predict(records, source="<pyfunc input>")
        return pd.DataFrame({"label": [p.label for p in preds], "probability": [p.probability for p in preds]})


def log_model(checkpoint_dir: str, name: str = "model", registered_model_name: str | None = None):
    """Log inside the active run -> `ModelInfo` (its `model_uri` registers it)."""
    import pandas as pd

    return mlflow.pyfunc.log_model(
        name=name,
        python_model=SelfrePyfunc(),
        artifacts={ARTIFACT: str(checkpoint_dir)},
        code_paths=[str(SELFRE_PACKAGE)],
        signature=SIGNATURE,
        input_example=pd.DataFrame(INPUT_EXAMPLE),
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model_name,
    )
