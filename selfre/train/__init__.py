"""The one SELF training loop (`loop.train`), its checkpoints, evaluation and inference helpers."""
