"""cProfile of ours on one problem: which Python functions the time goes to (cProfile inflates per-call costs)."""
from __future__ import annotations

import cProfile
import pstats
import sys
import time
from typing import Any

import numpy as np
from implementations import Ours
from problem import Config, make_problem

__all__ = ["profile"]


def profile(cell: str, config: Config, dtype: Any, top: int, sort: str, seconds: float = 3.0) -> None:
    """Profile as many forward+backward steps of ours as fit in ``seconds``; print the top functions."""
    ours = Ours(make_problem(cell, config, dtype))
    start = time.perf_counter()
    ours.step()  # warm-up, and the step time that sets the count
    steps = max(1, int(seconds / (time.perf_counter() - start)))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        ours.step()
    profiler.disable()
    print(f"\ncProfile of ours: {cell.upper()} {config} {np.dtype(dtype).name}, {steps} forward+backward steps, "
          f"sorted by {sort}")
    pstats.Stats(profiler, stream=sys.stdout).strip_dirs().sort_stats(sort).print_stats(top)
