"""`selfre report`: paper-style tables (Tables 5, 6, 8; Fig. 11) from the searches logged to MLflow, as Markdown + PNG.
Needs the `search` extra (mlflow); the import is inside the command so `selfre --help` works without it.
Where to read: --tracking-uri / --experiment, else MLflow's own MLFLOW_TRACKING_URI / MLFLOW_EXPERIMENT_NAME."""

from __future__ import annotations

from selfre.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("report", help="Regenerate the paper's tables (5, 6, 8) and λ curve (Fig. 11) from MLflow runs.")
    p.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI: http://HOST:PORT, or a search's embedded store sqlite:///<storage root>/mlflow.db (e.g. runs/search/mlflow.db; the search prints it). Default: $MLFLOW_TRACKING_URI; the flag wins.",
    )
    p.add_argument(
        "--experiment",
        help="MLflow experiment the searches logged to (a search's --experiment, by default selfre-DATASET). Default: $MLFLOW_EXPERIMENT_NAME; the flag wins.",
    )
    p.add_argument(
        "--search-run-id",
        default=None,
        help="Only this search (its MLflow parent run id; default: every finished search in the experiment).",
    )
    p.add_argument("--out", default="report", help="Output folder for report.md and PNGs.")
    p.set_defaults(func=run)


def run(args) -> int:
    from selfre.tracking import targets  # no mlflow import: the flag checks below work without the extra

    uri, experiment = targets.tracking_uri(args.tracking_uri), targets.experiment(args.experiment)
    if not uri:
        raise ConfigError(f"selfre report: pass --tracking-uri or set {targets.ENV_URI}")
    if not experiment:
        raise ConfigError(f"selfre report: pass --experiment or set {targets.ENV_EXPERIMENT}")
    targets.check_experiment(experiment, uri)
    try:
        from selfre.tracking.links import report_lines
        from selfre.tracking.search_report import write_report
    except ImportError as exc:
        raise ConfigError(f"selfre report needs the search extra (pip install 'selfre[search]'): {exc}") from exc
    try:
        path = write_report(uri, experiment, args.out, args.search_run_id)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    print(f"report written to {path}")
    for line in report_lines(uri, experiment, args.search_run_id):
        print(line)
    return 0
