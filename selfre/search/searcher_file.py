"""A searcher's standalone checkpoint (Tune's `Searcher.save` / `restore`): its state as one pickled dict.
Shared by SeedRepeater (seeds.py) and FixedConfigurations (grid.py), so both write the same kind of file."""

from __future__ import annotations

import pickle


def save_state(path: str, state: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(state, fh)


def load_state(path: str) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh)
