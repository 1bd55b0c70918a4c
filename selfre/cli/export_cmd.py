"""`selfre export`: a checkpoint as a self-contained MLflow model folder (no tracking server involved)."""

from __future__ import annotations

from selfre.errors import SelfreError


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="Write a checkpoint as a self-contained MLflow model folder.",
        description="Write an MLflow pyfunc model folder (MLmodel, the selfre code, public pinned requirements; the "
        "checkpoint as its artifact) that loads with selfre.predict.Predictor.from_pretrained(OUT), "
        "mlflow.pyfunc.load_model(OUT) and `mlflow models serve -m OUT`. Needs MLflow (pip install 'selfre[search]').",
    )
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="A model checkpoint folder (OUT/checkpoint).")
    p.add_argument(
        "--out", required=True, metavar="DIR", help="The model folder to write: must not exist, or be empty."
    )
    p.set_defaults(func=run)


def run(args) -> int:
    # Imported here, not at parser build: MLflow and torch take seconds to import, and `selfre --help` needs neither.
    try:
        from selfre.tracking.pyfunc_model import export_model
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in ("mlflow", "pydantic", "packaging"):
            raise SelfreError(
                f"selfre export needs MLflow ({exc.name} is missing): pip install 'selfre[search]'"
            ) from None
        raise
    out = export_model(args.checkpoint, args.out)
    print(f"exported {args.checkpoint} -> {out}")
    print(
        f"  Python: selfre.predict.Predictor.from_pretrained({str(out)!r})  or  mlflow.pyfunc.load_model({str(out)!r})"
    )
    print(f"  serve:  mlflow models serve -m {out} -h 127.0.0.1 -p 5001")
    return 0
