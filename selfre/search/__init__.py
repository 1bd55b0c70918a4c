"""Distributed hyper-parameter search for SELF on Ray (Tune + Train V2) with Optuna.

One module per job (the search in one screen, with the Ray calls these replace: docs/search.md):
    plan.py           SearchPlan: defaults < configs/<dataset>.yaml < --config < flags; saved per run
    search_config.py  SearchConfig: the typed `search:` section (sampling, resources, tracking, ablation)
    space.py          the search space (YAML) and its Optuna define-by-run sampler (conditional params)
    study.py          the Optuna side: the sampler, the study's storage, the first configuration, the plots
    seeds.py          SeedRepeater: one trial per seed, mean/std per configuration, save/restore
    grid.py           FixedConfigurations: a fixed list of configurations (ablations, --final-seeds)
    searcher_file.py  a searcher's checkpoint file (shared by seeds.py and grid.py)
    scheduler.py      FIFO, or ASHA that prunes whole configurations (the rules: SeedGroupASHA's docstring)
    trainable.py      the Tune trial: a function that trains a one-worker trial itself or launches a TorchTrainer
    trainer.py        LeanTorchTrainer: TorchTrainer without Ray Data's per-run machinery
    in_trial.py       TrialSession: a one-worker trial's checkpoints and reports, in its Tune trial
    worker.py         train_trial: the core loop + hooks reporting metrics/checkpoints (Ray Train worker or Tune trial)
    resources.py      what a trial asks for; how many fit
    ray_session.py    embedded or joined Ray cluster (dashboard, token auth)
    runner.py         build/restore the Tuner, run, summarise
    summary.py        best configuration, test mean ± std, summary.csv/json
    best_config.py    best_config.json: the chosen configuration as a `selfre train --config` file
    ablation.py       the paper's Table 6 with statistics: variants x seeds through the same runner
    configs/          the bundled <dataset>.yaml files (package data; tune/configs links here)
The command lines are selfre/cli/search_cmd.py and ablate_cmd.py (tune/search.py, tune/ablate.py call them).

Nothing here is imported by the core; the core never imports Ray.
"""

import os

# Ray Train V2 (the TorchTrainer-inside-a-Tune-function pattern). It is this Ray's default; setting it
# here pins it before any `ray.train` import, in the driver and (Ray propagates it) in the workers.
os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "1")
