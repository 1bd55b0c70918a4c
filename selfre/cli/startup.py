"""What every command line does before and around its work: `selfre` and the tune/ entries alike."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from selfre.errors import SelfreError


def prepare(verbose: bool = False) -> None:
    """Quiet third-party output meant for interactive use, and log at INFO (DEBUG with -v). An explicit
    TRANSFORMERS_VERBOSITY or MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR is respected."""
    # transformers prints a load report per model (e.g. the unused pooler of BERT-like encoders): noise
    # for CLI users.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    # MLflow's per-file download/upload progress bars (report, export, search) interleave with our output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_reporting_errors(command: str, work: Callable[[], int | None]) -> int:
    """`work()`'s exit code; a SelfreError (unusable input, a missing extra) is printed as `COMMAND: error:
    ...` and exits 2, without a traceback."""
    try:
        return int(work() or 0)
    except SelfreError as exc:
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 2
