#!/usr/bin/env python
"""Hyper-parameter search for SELF on Ray. `python tune/search.py --help` lists every flag.

    python tune/search.py --dataset demo                     # embedded Ray, tiny encoder (time: README.md)
    python tune/search.py --dataset tacred --data-dir DIR --gpus-per-worker 1 --address auto

Thin on purpose: parse, load the config (tune/configs/<dataset>.yaml, a link to the configs bundled in the
package), call the library (selfre.search). `selfre search` is the same command for installed copies.
"""

import sys

from selfre.cli.search_cmd import main

if __name__ == "__main__":
    sys.exit(main())
