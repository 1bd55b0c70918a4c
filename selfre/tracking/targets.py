"""Where a search logs and registers: flags first, else MLflow's standard environment variables, else defaults.

  tracking URI       --tracking-uri   > MLFLOW_TRACKING_URI    > the embedded store in the storage root
  experiment         --experiment     > MLFLOW_EXPERIMENT_NAME > (search: search.experiment) > selfre-<dataset>
  registered model   --registered-model                          (search.registered_model) > selfre-<dataset>
The registry is the tracking store's unless MLFLOW_REGISTRY_URI says otherwise; as in MLflow, a Databricks
tracking URI means the Unity Catalog registry (`databricks-uc`), whose model names are three-part
`catalog.schema.model`, and Databricks experiments are workspace paths (`/Users/<you>/selfre`).
No mlflow import here: the search's command line resolves and checks these before anything starts.
"""

from __future__ import annotations

import os
import re

from selfre.errors import ConfigError

ENV_URI, ENV_EXPERIMENT, ENV_REGISTRY = "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_REGISTRY_URI"
_UC_PART = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
_UC_NAME = re.compile(rf"^{_UC_PART}\.{_UC_PART}\.{_UC_PART}$")


def tracking_uri(flag: str | None) -> str | None:
    return flag or os.environ.get(ENV_URI) or None


def experiment(flag: str | None) -> str | None:
    """The experiment the flag or the environment names (None: the caller's default)."""
    return flag or os.environ.get(ENV_EXPERIMENT) or None


def default_name(dataset: str) -> str:
    """The default experiment and registered model of a dataset's searches."""
    return f"selfre-{dataset}"


def is_databricks(uri: str | None) -> bool:
    return bool(uri) and (uri == "databricks" or uri.startswith("databricks://"))


def registry_uri(tracking: str | None) -> str | None:
    """MLflow's rule (mlflow.tracking._model_registry.utils): MLFLOW_REGISTRY_URI, else databricks-uc for a
    Databricks tracking URI, else the tracking store itself."""
    return os.environ.get(ENV_REGISTRY) or ("databricks-uc" if is_databricks(tracking) else tracking)


def is_unity_catalog(registry: str | None) -> bool:
    return bool(registry) and registry.split("://", 1)[0] == "databricks-uc"


def check_experiment(name: str, tracking: str | None) -> str:
    if not name.strip():
        raise ConfigError("--experiment must not be empty")
    if is_databricks(tracking) and not name.startswith("/"):
        raise ConfigError(
            f"--experiment {name!r}: a Databricks experiment is a workspace path such as /Users/<you>/{name}"
        )
    return name


def check_model_name(name: str, tracking: str | None) -> str:
    registry = registry_uri(tracking)
    if is_unity_catalog(registry) and not _UC_NAME.match(name):
        raise ConfigError(
            f"--registered-model {name!r}: the Unity Catalog registry ({registry}) names models catalog.schema.model "
            "(three dot-separated parts of letters, digits, '_' or '-'), e.g. main.selfre.tacred"
        )
    if not name.strip():
        raise ConfigError("--registered-model must not be empty")
    return name
