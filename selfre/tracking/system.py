"""Per-trial system metrics (CPU, memory, disk, network; NVIDIA/AMD GPU where present) through MLflow's own
`SystemMetricsMonitor`, pointed at the trial's child run by id: trials log through an explicit
MlflowClient (child.py), so MLflow's fluent `log_system_metrics=True`, which watches the active run, cannot.

Keys: `system/cpu_utilization_percentage`, `system/system_memory_usage_megabytes`, `system/gpu_0_…`, …
Sampling: MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL (s, MLflow's default 10) and
MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING. Needs psutil (and nvidia-ml-py for NVIDIA GPUs): the
`search` extra has both. Rank 0 only: on a multi-node trial, the metrics are rank 0's machine.
Switched off per search with --no-system-metrics (search.system_metrics: false).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def start(run_id: str, tracking_uri: str):
    """A running monitor for `run_id`, or None where it cannot run (a diagnostic must not fail a trial)."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        monitor = SystemMetricsMonitor(run_id, resume_logging=True, tracking_uri=tracking_uri)
    except ImportError as exc:
        log.warning("system metrics off: %s (pip install psutil nvidia-ml-py)", exc)
        return None
    monitor.start()
    return monitor


def stop(monitor) -> None:
    """Stop sampling and log what was sampled since the last interval, plus one closing sample: MLflow's
    loop drops a partial interval, so a trial shorter than one interval would otherwise have none. Call it
    before the run ends (the monitor stops logging to a finished run)."""
    if monitor is None:
        return
    monitor.finish()
    try:
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()
    except Exception as exc:  # noqa: BLE001
        log.warning("closing system metrics sample not logged: %s", exc)
