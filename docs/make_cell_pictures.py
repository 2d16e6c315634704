"""Make the pictures of docs/cells.md by running the page's own code (needs the Graphviz ``dot`` program).

    python docs/make_cell_pictures.py                  # SVGs into docs/images/

The page's python blocks run in order, as the docs test runs them, with their temporary folder
pointed at a scratch directory; every SVG they draw is copied into docs/images with its box ids
numbered in order (``make_pictures.stable_ids``), so a regenerated picture differs only where the
drawing changed. The pictures are therefore exactly what the page's code draws.
"""
from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from make_pictures import IMAGES, stable_ids

PAGE = Path(__file__).resolve().parent / "cells.md"
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder to write into (default docs/images)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        tempfile.tempdir = scratch  # the page writes into tempfile.mkdtemp()
        namespace: dict = {"__name__": "__main__"}
        for block in PYTHON_BLOCK.findall(PAGE.read_text(encoding="utf-8")):
            exec(compile(block, str(PAGE), "exec"), namespace)
        tempfile.tempdir = None
        for drawn in sorted(Path(scratch).rglob("*.svg")):
            target = args.out / drawn.name
            target.write_text(stable_ids(drawn.read_text(encoding="utf-8")), encoding="utf-8")
            print(target)


if __name__ == "__main__":
    main()
