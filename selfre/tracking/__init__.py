"""MLflow tracking for selfre searches: the platform layer.

Only the search platform imports this package (it imports mlflow); the selfre core never does.
  preflight.py     fail fast when the tracking server / artifact bucket is unreachable; embedded default
  names.py         MLflow-safe metric names for relation labels (and the documented mapping)
  params.py        RunConfig -> MLflow params
  plots.py         matplotlib (Agg) figures: per-relation F1, confusion, gate heatmaps, SPP vs IEL, λ curve
  probes.py        retainer gates and SPP attention of a checkpoint on a few dev sentences
  child.py         one nested run per trial (rank 0 only): params, per-epoch metrics, final metrics, plots
  parent.py        one run per search: config, summary artifacts, λ plot, per-seed table, closing children
  pyfunc_model.py  the checkpoint as an MLflow pyfunc model
  registry.py      log + register the best checkpoint; champion/challenger aliases
  report.py        paper-style tables (Markdown + PNG) regenerated from MLflow runs (`selfre report`)
  session.py       the search driver's side in three calls: open (preflight + parent run), finish, fail
"""
