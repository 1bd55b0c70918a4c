"""MLflow tracking for selfre searches: the platform layer.

The search platform (selfre.search) and the `selfre report` / `selfre export` commands import this package (most
of its modules import mlflow); the selfre core never does, and this package never imports selfre.search
(what both need is in selfre.search_results). Without `--tracking-uri` the store is `mlflow.db` in the search
storage root (preflight.py).
  targets.py       tracking URI / experiment / registered model: flags, MLFLOW_* environment, defaults, checks
  preflight.py     fail fast when the tracking server / artifact bucket is unreachable; embedded default
  names.py         MLflow-safe metric names for relation labels (and the documented mapping)
  params.py        RunConfig -> MLflow params
  plots.py         matplotlib (Agg) figures: per-relation F1, confusion, gate heatmaps, SPP vs IEL, λ curve
  probes.py        retainer gates and SPP attention of a checkpoint on a few dev sentences
  child.py         one nested run per trial (rank 0 only): params, config.yaml, per-epoch and final metrics, plots
  system.py        per-trial system metrics (MLflow's monitor, by run id)
  lineage.py       the trial's train/dev/test as MLflow dataset inputs (source, content digest)
  paper_tables.py  Tables 5, 6, 8 and the λ curve from search summaries (parent.py and search_report.py)
  parent.py        one run per search: config, summary artifacts, best config, Table 8, λ plot, closing children
  pyfunc_model.py  the checkpoint as an MLflow pyfunc model
  registry.py      log + register the best checkpoint; champion/challenger only on like data and metric
  search_report.py `selfre report`: paper_tables.py over the finished searches' logged summaries
  search_tracking.py  the search driver's side in three calls: open (preflight + parent run), finish, fail
  links.py         links into MLflow's UI (Training runs view, registered model) that the search and report print
The code every run and model version names (version, commit, uncommitted changes) is selfre.provenance's.
"""
