"""benchmarks/spp_regimes.py: SPP's loss and gradient share per regime at initialisation (what λ ranges are set from)."""

from __future__ import annotations

import pytest
from support import REPO, load_script

from selfre.data.demo import generate_demo

pytestmark = pytest.mark.slow


def test_every_regime_is_measured_and_the_faint_one_is_faint(tmp_path, capsys):
    generate_demo(tmp_path, seed=13, n_train=48, n_dev=8, n_test=8)
    tool = load_script("benchmarks/spp_regimes.py")
    assert (
        tool.main(
            [
                "--config",
                str(REPO / "tune" / "configs" / "demo.yaml"),
                "--dataset",
                "demo",
                "--data-dir",
                str(tmp_path),
                "--model",
                "tiny",
                "--sentences",
                "16",
                "--max-seq-length",
                "64",
            ]
        )
        == 0
    )
    table = capsys.readouterr().out.strip().splitlines()
    assert len(table) == 2 + 8  # header + (2 α) x (2 targets) x (2 layer sets)
    ratio = {tuple(c.strip() for c in line.split("|")[1:4]): float(line.split("|")[6]) for line in table[2:]}
    # softmax α with the softmax target: the authors' regime, a gradient orders of magnitude below renormalize+smooth
    assert ratio[("softmax", "softmax", "all")] * 100 < ratio[("renormalize", "smooth", "all")]
