"""A fixed list of configurations instead of Optuna: an ablation's variants (tune/ablate.py) and the final
re-training of a search's best configuration on more seeds (--final-seeds). Everything else — the seed
repeater, Ray Tune trials running Ray Train, checkpoints, fault tolerance, MLflow child runs, --resume — is
the search's own machinery (runner.py), so a variant is trained exactly like a search trial.
"""

from __future__ import annotations

from ray.tune.search import Searcher

from selfre.search.searcher_file import load_state, save_state
from selfre.search_results import METRIC


class FixedConfigurations(Searcher):
    def __init__(self, configurations: list[dict]):
        super().__init__(metric=METRIC, mode="max")
        self.configurations = [dict(c) for c in configurations]
        self.handed_out = 0

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # nothing to sample: the configurations are given

    def suggest(self, trial_id: str) -> dict | None:
        if self.handed_out >= len(self.configurations):
            return Searcher.FINISHED
        self.handed_out += 1
        return dict(self.configurations[self.handed_out - 1])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass  # nothing to learn

    def save(self, checkpoint_path: str) -> None:
        save_state(checkpoint_path, {"configurations": self.configurations, "handed_out": self.handed_out})

    def restore(self, checkpoint_path: str) -> None:
        self.__dict__.update(load_state(checkpoint_path))
