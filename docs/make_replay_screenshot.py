"""Make the screenshot of the replay page in docs/visualizing.md (needs Graphviz ``dot`` and Chromium).

    python docs/make_replay_screenshot.py              # docs/images/viz-replay.png
    python docs/make_replay_screenshot.py --out shot.png

It writes the replay page of the page's three-step LSTM, coloured by gradient, and has headless
Chromium take a picture of it mid-sweep: at the visit where ``weight_hh_l0`` receives the
contribution of step t=1, at the page's reading size (``replay.html#visit=K``).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from make_pictures import IMAGES, unrolled_loss

import micrograd_seq as mg

# Headless flags that work as root on a closed network (no sandbox, no background connections).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def visit_where_weight_hh_gets(page: str, step: str) -> int:
    """The 1-based visit at which weight_hh_l0 receives its term from ``step``."""
    data = json.loads(re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', page, re.S)[1])
    weight_hh = next(p for p in data["params"] if p["name"] == "weight_hh_l0")
    infos = [data["infos"][data["visits"][k][1]] for k in weight_hh["from"]]
    return next(k for k, info in zip(weight_hh["from"], infos, strict=True) if info["time"] == step) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=IMAGES / "viz-replay.png", help="the PNG to write")
    args = parser.parse_args()
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if browser is None:
        sys.exit("make_replay_screenshot: no Chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as folder:
        page = mg.viz.replay(unrolled_loss("LSTM", 3), Path(folder) / "replay.html", grads=True)
        visit = visit_where_weight_hh_gets(page.html, "t=1")
        subprocess.run([browser, *FLAGS, f"--user-data-dir={folder}/profile", "--window-size=1280,820",
                        f"--screenshot={args.out.resolve()}", f"{page.path.as_uri()}#visit={visit}"],
                       check=True, capture_output=True, timeout=120)
    print(args.out)


if __name__ == "__main__":
    main()
