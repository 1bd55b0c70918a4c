"""Building the command lines imports none of the heavy libraries: `selfre --help`, `selfre CMD --help` and
`python tune/search.py --help` answer in about a second instead of paying 10+ s for torch/transformers on a
loaded machine. Each command imports what it needs inside its `run` function."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "transformers", "ray", "mlflow", "optuna", "pyarrow")

# A fresh interpreter: pytest itself (and other tests) have imported torch long ago.
CODE = f"""
import json, sys
from selfre.cli import build_parser
from selfre.cli.search_cmd import build_parser as build_search_parser

for parser in (build_parser(), build_search_parser()):
    parser.format_help()
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for sub in action.choices.values():  # `selfre CMD --help` (and `selfre data ACTION --help`)
            sub.format_help()
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))
"""


def test_building_every_parser_imports_no_heavy_library():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
