"""Every example's --quick mode runs to the end, writes its plots to --out and prints a sane RESULT line,
and a second run with the same seed prints the same RESULT line: a run repeats exactly."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
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
    "lstm_odyssey": ((), ["lstm_odyssey.png"], lambda value, baseline: value <= 1.1 * baseline),
    "translate_dates": ((), ["translate_dates_attention.png", "translate_dates_step.png"],
                        lambda value, baseline: value > baseline),
}


def run_quick(script: str, args: tuple, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, str(EXAMPLES / f"{script}.py"), "--quick", "--out", str(out), *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=out, timeout=600)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], tuple[str, Path]]:
    """quick(case, attempt): the RESULT line of that attempt at the case's --quick run (each run once) and its --out."""
    done: dict[tuple[str, int], tuple[str, Path]] = {}

    def result_line(case: str, attempt: int = 0) -> tuple[str, Path]:
        if (case, attempt) not in done:
            script, out = case.removesuffix("_goog"), tmp_path_factory.mktemp(f"{case}-{attempt}")
            run = run_quick(script, CASES[case][0], out)
            if case == "sentiment" and run.returncode == MISSING_DATA and "pip could not download" in run.stderr:
                pytest.skip(f"the sentiment data cannot be downloaded here: {run.stderr.strip()}")
            assert run.returncode == 0, f"{script} failed:\n{run.stderr[-3000:]}"
            done[case, attempt] = run.stdout.strip().splitlines()[-1], out
        return done[case, attempt]

    return result_line


@pytest.mark.parametrize("case", sorted(CASES))
def test_quick_run(case: str, quick: Callable[[str, int], tuple[str, Path]]) -> None:
    _, pictures, sane = CASES[case]
    last, out = quick(case, 0)
    match = RESULT.match(last)
    assert match, f"{case}: the last line is not a RESULT line: {last!r}"
    value, baseline = float(match.group(2)), float(match.group(3))
    assert sane(value, baseline), f"{case} --quick: {last}"
    for picture in pictures:
        assert (out / picture).stat().st_size > 0
    assert not list(EXAMPLES.glob("*.png")), "an example wrote into the source tree"


@pytest.mark.parametrize("case", sorted(CASES))
def test_quick_run_repeats_exactly(case: str, quick: Callable[[str, int], tuple[str, Path]]) -> None:
    """Two runs with the same seed (and one BLAS thread) print the same RESULT line, digit for digit."""
    assert quick(case, 1)[0] == quick(case, 0)[0]


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
