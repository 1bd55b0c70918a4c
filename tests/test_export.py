"""`selfre export` and `Predictor.from_pretrained`: a checkpoint as a self-contained MLflow model folder (no tracking
server), loaded back by selfre and by MLflow with the checkpoint's own predictions; bad input loses nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

mlflow = pytest.importorskip("mlflow")

from pyfunc_support import assert_logged_as_code, assert_public_pins  # noqa: E402
from tracking_support import tiny_config  # noqa: E402

from selfre.cli import main  # noqa: E402
from selfre.predict import Predictor  # noqa: E402

pytestmark = pytest.mark.slow
# Both record shapes in one request; one typed and with an id.
RECORDS = [
    {"text": "Bill Gates founded Microsoft in 1975.", "subj": [0, 10], "obj": [19, 28]},
    {"tokens": ["Alice", "Smith", "works", "for", "Acme", "Corp"], "subj": [0, 2], "obj": [4, 6]},
    {
        "text": "Anna Berg married Tom Lind in 1990 .",
        "subj": [0, 9],
        "obj": [18, 26],
        "subj_type": "PERSON",
        "obj_type": "PERSON",
        "id": "a",
    },
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from selfre.train.loop import train

    return train(tiny_config(tmp_path_factory.mktemp("export-train"))).checkpoint_dir


@pytest.fixture(scope="module")
def exported(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")  # exists and is empty: allowed
    assert main(["export", "--checkpoint", checkpoint, "--out", str(out)]) == 0
    return out


def test_export_loads_both_ways_with_the_checkpoints_predictions(checkpoint, exported):
    import pandas as pd

    expected = Predictor(checkpoint, device="cpu").predict(RECORDS)
    model = mlflow.pyfunc.load_model(str(exported))
    answers = {
        "from_pretrained(export)": Predictor.from_pretrained(exported, device="cpu").predict(RECORDS),
        "from_pretrained(checkpoint)": Predictor.from_pretrained(checkpoint, device="cpu").predict(RECORDS),
        "pyfunc(list)": model.predict(RECORDS),
        # one DataFrame, both shapes: the cells a row lacks are NaN, which must not fail validation
        "pyfunc(DataFrame)": model.predict(pd.DataFrame(RECORDS)),
    }
    for how, preds in answers.items():
        assert [p.label for p in preds] == [p.label for p in expected], how
        assert [p.probability for p in preds] == pytest.approx([p.probability for p in expected], abs=1e-6), how
        assert [p.id for p in preds] == ["0", "1", "a"], how
    assert all(0 < p.probability <= 1 for p in expected)


def test_exported_folder_is_code_and_public_requirements(exported):
    assert_logged_as_code(exported)
    assert_public_pins(exported)
    serving_input = json.loads((exported / "serving_input_example.json").read_text())
    assert list(serving_input) == ["inputs"] and serving_input["inputs"][0]["subj"] == [0, 12]


def test_pyfunc_rejects_bad_requests_clearly(exported):
    from mlflow.exceptions import MlflowException

    model = mlflow.pyfunc.load_model(str(exported))
    with pytest.raises(MlflowException, match=r"(?s)subj.*Field required"):
        model.predict([{"text": "Bill Gates founded Microsoft.", "obj": [19, 28]}])
    with pytest.raises(MlflowException, match=r"record 0 \(id=r9\): .*out of range") as err:
        model.predict([{"tokens": ["a", "b"], "subj": [0, 1], "obj": [1, 5], "id": "r9"}])
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"  # served: HTTP 400


def test_export_refuses_bad_input_and_loses_nothing(checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", "--checkpoint", str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "not a selfre checkpoint" in capsys.readouterr().err and not out.exists()

    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", "--checkpoint", checkpoint, "--out", str(out)]) == 2
    assert f"{out} exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left behind


def test_export_parser_imports_neither_mlflow_nor_torch():
    code = (
        "import argparse, sys\nfrom selfre.cli import export_cmd\n"
        "export_cmd.register(argparse.ArgumentParser().add_subparsers())\n"
        "print(sorted(m for m in ('mlflow', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
