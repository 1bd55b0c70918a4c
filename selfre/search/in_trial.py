"""One-worker trials trained in the Tune trial itself: Ray's pattern for single-process trials.

A one-worker trial needs none of Ray Train's machinery (controller, placement group and its cleaner, worker
actor, synchronisation actor, the Tune→Train result queue): each of those is a fresh Python process per trial,
most of them importing torch, and together they cost several times what a small trial trains. So the Tune
function trainable (trainable.run_trial) runs the same `worker.train_trial` in its own process with a
`TrialSession` instead of Ray Train's: same training loop, same hooks, same MLflow child run, and the same
checkpoints in the same place — `<train_storage>/<run_name>/checkpoint_epoch_NNNN` and `final`, each with its
`search_state.json` — so resume and the final model are found exactly as for a Ray Train run.

What Ray Train did for such a trial, TrialSession does:
  * reports: `ray.tune.report(metrics)`, with `checkpoint_path` naming the uploaded checkpoint (as Tune's
    report callback names a Train checkpoint, pyarrow's path without the scheme);
  * checkpoints: copied to storage through pyarrow (local folder or s3://), `search_state.json` last, so a
    folder without it was cut short and is never resumed from; older ones beyond `keep` are deleted after;
  * restarts: a crashed trial is restarted by Tune (the Tuner's FailureConfig, see `tune_max_failures`) and
    continues from the newest complete checkpoint of its run, a finished one only re-reports.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from selfre.stage_timer import timed

# A run's checkpoint layout, shared with worker.py. Defined here: this module must import without Ray (the
# search driver's runner uses tune_max_failures before Ray is needed).
STATE_FILE, FINAL_DIR_NAME = "search_state.json", "final"

log = logging.getLogger(__name__)

_EPOCH_DIR = re.compile(r"^checkpoint_epoch_(\d+)$")
CHECKPOINT_PATH_KEY = "checkpoint_path"  # ray.tune.integration.ray_train.CHECKPOINT_PATH_KEY: what the summary reads


def in_trial(workers: int) -> bool:
    """Whether a trial of `workers` Ray Train workers is trained in its Tune trial instead (only one worker is)."""
    return workers == 1


def _order(name: str) -> tuple[int, int] | None:
    """Newer sorts later: epochs by number, the final checkpoint after every epoch; None: not a checkpoint."""
    if name == FINAL_DIR_NAME:
        return (1, 0)
    m = _EPOCH_DIR.match(name)
    return (0, int(m.group(1))) if m else None


class TrialSession:
    """worker.TrainSession's contract for a one-worker trial in its Tune trial: rank 0 of 1, checkpoints in
    `run_dir` (a local folder or URI), keeping the newest `keep`."""

    rank, world = 0, 1

    def __init__(self, run_dir: str, keep: int):
        import pyarrow.fs

        self._pafs = pyarrow.fs
        self.fs, self.root = pyarrow.fs.FileSystem.from_uri(run_dir)
        self.keep = max(1, keep)
        self.fs.create_dir(self.root, recursive=True)
        self.kept = self._complete_checkpoints()

    def _complete_checkpoints(self) -> list[str]:
        """The run's checkpoint folders holding a state file, oldest first."""
        infos = self.fs.get_file_info(self._pafs.FileSelector(self.root, recursive=False))
        names = [i.base_name for i in infos if i.type == self._pafs.FileType.Directory and _order(i.base_name)]
        complete = [
            n for n in names if self.fs.get_file_info(f"{self.root}/{n}/{STATE_FILE}").type == self._pafs.FileType.File
        ]
        return sorted(complete, key=_order)

    def get_checkpoint(self):
        from ray.train import Checkpoint

        return Checkpoint(f"{self.root}/{self.kept[-1]}", filesystem=self.fs) if self.kept else None

    def report(self, metrics: dict, folder: Path | None = None, dir_name: str | None = None) -> None:
        import ray.tune

        extra = {}
        if folder is not None:
            extra[CHECKPOINT_PATH_KEY] = self._upload(Path(folder), dir_name)
        ray.tune.report({**metrics, **extra})

    @timed("in_trial:TrialSession._upload")
    def _upload(self, folder: Path, dir_name: str) -> str:
        dest = f"{self.root}/{dir_name}"
        if dir_name in self.kept:  # an earlier attempt's copy of the same epoch: replaced whole
            self.kept.remove(dir_name)
        if self.fs.get_file_info(dest).type != self._pafs.FileType.NotFound:
            self.fs.delete_dir(dest)
        files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.name == STATE_FILE)
        local = self._pafs.LocalFileSystem()
        for path in files:  # the state file last: it marks the checkpoint complete
            target = f"{dest}/{path.relative_to(folder).as_posix()}"
            self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
            self._pafs.copy_files(str(path), target, source_filesystem=local, destination_filesystem=self.fs)
        self.kept.append(dir_name)
        while len(self.kept) > self.keep:
            self.fs.delete_dir(f"{self.root}/{self.kept.pop(0)}")
        return dest


def tune_max_failures(workers: int, max_failures: int) -> int:
    """The Tuner's restarts per trial: a one-worker trial crashes with its Tune trial, so Tune restarts it (from
    its newest checkpoint, TrialSession); a Ray Train trial's worker group is restarted by Ray Train instead,
    and a Tune restart on top would multiply the two."""
    return max_failures if in_trial(workers) else 0
