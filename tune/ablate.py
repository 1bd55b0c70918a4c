#!/usr/bin/env python
"""Ablation of SELF's components (the paper's Table 6) with statistics. `python tune/ablate.py --help`.

    python tune/ablate.py --dataset demo --seeds 42,52                      # quick, on the demo corpus
    python tune/ablate.py --from-search semeval-cpu --storage runs/search   # a finished search's best config

Thin on purpose: parse, build the plan, call the library (selfre.cli.ablate_cmd).
"""

import sys
from pathlib import Path

from selfre.cli.ablate_cmd import main

if __name__ == "__main__":
    sys.exit(main(config_dir=Path(__file__).resolve().parent / "configs"))
