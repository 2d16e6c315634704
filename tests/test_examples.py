"""Every example's --quick mode runs to the end, writes its plots to --out and prints a sane RESULT line."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RESULT = re.compile(r"^RESULT: (\w+)=(\S+) \(baseline (\S+)\)$")
MISSING_DATA = 3  # examples/_common.py: the exit status for a missing package or data file

# example: (extra arguments, pictures it writes, check(value, baseline) that a quick run should pass)
CASES = {
    "hello": ((), ["hello_unrolled.png"], lambda value, baseline: value == 1.0),
    "char_lm": ((), ["char_lm.png"], lambda value, baseline: value < baseline),
    "forecast": ((), ["forecast_sunspots.png"], lambda value, baseline: value < 1.5 * baseline),
    "forecast_goog": (("--series", "goog"), ["forecast_goog.png"], lambda value, baseline: value < 1.5 * baseline),
    "digits": ((), ["digits.png"], lambda value, baseline: value > 0.8),
    "sentiment": ((), ["sentiment.png"], lambda value, baseline: value > baseline),
    "adding_problem": ((), ["adding_problem.png", "adding_problem_gradients.png"],
                       lambda value, baseline: value <= 1.1 * baseline),
}


def run_quick(script: str, args: tuple, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, str(EXAMPLES / f"{script}.py"), "--quick", "--out", str(out), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=out, timeout=600)


@pytest.mark.parametrize("case", sorted(CASES))
def test_quick_run(case: str, tmp_path: Path) -> None:
    args, pictures, sane = CASES[case]
    script = case.removesuffix("_goog")
    done = run_quick(script, args, tmp_path)
    if case == "sentiment" and done.returncode == MISSING_DATA and "pip could not download" in done.stderr:
        pytest.skip(f"the sentiment data cannot be downloaded here: {done.stderr.strip()}")
    assert done.returncode == 0, f"{script} failed:\n{done.stderr[-3000:]}"
    last = done.stdout.strip().splitlines()[-1]
    match = RESULT.match(last)
    assert match, f"{script}: the last line is not a RESULT line: {last!r}"
    value, baseline = float(match.group(2)), float(match.group(3))
    assert sane(value, baseline), f"{script} --quick: {last}"
    for picture in pictures:
        assert (tmp_path / picture).stat().st_size > 0
    assert not list(EXAMPLES.glob("*.png")), "an example wrote into the source tree"


def test_missing_package_gives_one_line(tmp_path: Path) -> None:
    """With a data package missing, an example exits with one line naming what to install."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text("import sys\nsys.modules['sklearn'] = None\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = subprocess.run([sys.executable, str(EXAMPLES / "digits.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == MISSING_DATA
    assert done.stderr.strip().count("\n") == 0
    assert "scikit-learn" in done.stderr
