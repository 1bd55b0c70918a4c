"""`selfre report`: paper-style tables (Tables 5, 6, 8; Fig. 11) from a search's MLflow runs, as Markdown + PNG.
Needs the `search` extra (mlflow); the import is inside the command so `selfre --help` works without it."""

from __future__ import annotations

from selfre.errors import ConfigError


def register(sub) -> None:
    p = sub.add_parser("report", help="Regenerate the paper's tables (5, 6, 8) and λ curve (Fig. 11) from MLflow runs.")
    p.add_argument("--tracking-uri", required=True, help="MLflow tracking URI: http://HOST:PORT, or a search's embedded store sqlite:///<storage root>/mlflow.db (e.g. runs/search/mlflow.db; the search prints it).")
    p.add_argument("--experiment", required=True, help="MLflow experiment the searches logged to.")
    p.add_argument("--search-run-id", default=None, help="Only this search's trials (default: every search in the experiment).")
    p.add_argument("--out", default="report", help="Output folder for report.md and PNGs.")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        from selfre.tracking.report import write_report
    except ImportError as exc:
        raise ConfigError(f"selfre report needs the search extra (pip install 'selfre[search]'): {exc}") from exc
    try:
        path = write_report(args.tracking_uri, args.experiment, args.out, args.search_run_id)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    print(f"report written to {path}")
    return 0
