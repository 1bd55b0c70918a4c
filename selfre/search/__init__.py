"""Distributed hyper-parameter search for SELF on Ray (Tune + Train V2) with Optuna.

One module per job:
    plan.py        SearchPlan: defaults < configs/<dataset>.yaml < --config < flags; saved per run
    search_config.py  SearchConfig: the typed search: section (sampling, resources, tracking, ablation)
    space.py       the search space (YAML) and its Optuna define-by-run sampler (conditional params)
    seeds.py       SeedRepeater: one trial per seed, mean/std per configuration, save/restore
    scheduler.py   FIFO, or ASHA that prunes whole configurations (how early stopping meets seeds)
    trainable.py   the Tune trial: a function that trains a one-worker trial itself or launches a TorchTrainer
    trainer.py     LeanTorchTrainer: TorchTrainer without Ray Data's per-run machinery
    in_trial.py    TrialSession: a one-worker trial's checkpoints and reports, in its Tune trial
    worker.py      train_trial: the core loop + hooks reporting metrics/checkpoints (Ray Train worker or Tune trial)
    resources.py   what a trial asks for; how many fit
    ray_session.py embedded or joined Ray cluster (dashboard, token auth)
    runner.py      build/restore the Tuner, run, summarise
    summary.py     best configuration, test mean ± std, summary.csv/json
    configs/       the bundled <dataset>.yaml files (package data; tune/configs links here)

Nothing here is imported by the core; the core never imports Ray.
"""

import os

# Ray Train V2 (the TorchTrainer-inside-a-Tune-function pattern). It is this Ray's default; setting it
# here pins it before any `ray.train` import, in the driver and (Ray propagates it) in the workers.
os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
