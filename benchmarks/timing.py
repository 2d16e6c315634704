"""Timing: every implementation of a problem in one interleaved round-robin, summarised by medians.

One call of each implementation per round, the order rotating by one each round, so a burst of
load on a shared machine hits all of them alike; ``gc.collect()`` between rounds, never inside a
timed call. Ratios of medians within one run are steadier than absolute times on a busy machine.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import implementations
import numpy as np
from implementations import Implementation, Stepper
from problem import Config, make_problem

__all__ = ["time_round_robin", "Result", "measure", "Phased"]


def time_round_robin(impls: Sequence[Stepper], reps: int | None, budget: float, warmup: int,
                     min_reps: int = 5, max_reps: int = 51) -> list[list[float]]:
    """Seconds per step() of each implementation, in the order given: one call of each per round,
    the order rotating by one each round.

    With ``reps`` None, as many rounds as fit in ``budget`` seconds (within min_reps..max_reps),
    judged from the last warm-up round.
    """
    round_time = 0.0
    for _ in range(warmup):
        start = time.perf_counter()
        for impl in impls:
            impl.step()
        round_time = time.perf_counter() - start
    if reps is None:
        reps = int(min(max(budget / max(round_time, 1e-9), min_reps), max_reps))
    times: list[list[float]] = [[] for _ in impls]
    order = list(range(len(impls)))
    for r in range(reps):
        gc.collect()
        shift = r % len(order)
        for i in order[shift:] + order[:shift]:
            start = time.perf_counter()
            impls[i].step()
            times[i].append(time.perf_counter() - start)
    return times


class Phased:
    """An implementation whose step() also records its forward and backward seconds separately."""

    def __init__(self, impl: Implementation) -> None:
        self.impl = impl
        self.name = impl.name
        self.phases: list[tuple[float, float]] = []

    def step(self) -> float:
        start = time.perf_counter()
        state = self.impl.forward()
        middle = time.perf_counter()
        loss = self.impl.backward(state)
        self.phases.append((middle - start, time.perf_counter() - middle))
        return loss

    def grads(self) -> dict[str, np.ndarray]:
        return self.impl.grads()


@dataclass
class Result:
    cell: str
    dtype: str
    T: int
    B: int
    D: int
    H: int
    K: int
    impl: str
    median_s: float
    q1_s: float
    q3_s: float
    reps: int
    ratio_to_numpy: float  # median / the floor's median
    paired_ratio: float  # median over rounds of this time / the floor's in the same round
    max_error: float
    samples_s: list[float] = field(default_factory=list, repr=False)  # one per round, in round order
    floor: str = "numpy"  # the floor's implementation: the faster numpy form in this run

    @property
    def config(self) -> Config:
        return Config(self.T, self.B, self.D, self.H, self.K)


def summarise(cell: str, config: Config, dtype: Any, own: dict[str, list[float]],
              errors: dict[str, float]) -> list[Result]:
    """Medians, quartiles and ratios (of medians, and paired per round) to the floor, one Result per implementation.

    The floor is the numpy form (implementations.FLOORS) with the lowest median in this run.
    """
    floor = min((name for name in implementations.FLOORS if name in own), key=lambda name: np.median(own[name]))
    floor_median = float(np.median(own[floor]))
    results = []
    for name, samples in own.items():
        q1, median, q3 = (float(v) for v in np.percentile(samples, [25, 50, 75]))
        paired = float(np.median(np.divide(samples, own[floor])))
        results.append(Result(cell, np.dtype(dtype).name, config.T, config.B, config.D, config.H, config.K, name,
                              median, q1, q3, len(samples), median / floor_median, paired, errors[name],
                              list(samples), floor))
    return results


def measure(cell: str, configs: Sequence[Config], dtype: Any, impl_names: Sequence[str], reps: int | None,
            budget: float, warmup: int, seed: int = 0, min_reps: int = 5) -> list[Result]:
    """Verify every implementation on each configuration, then time them all in one round-robin."""
    problems = [make_problem(cell, config, dtype, seed) for config in configs]
    groups = [implementations.make_implementations(problem, impl_names) for problem in problems]
    errors = [implementations.verify(group, problem.dtype) for group, problem in zip(groups, problems, strict=True)]
    times = iter(time_round_robin([impl for group in groups for impl in group], reps, budget, warmup, min_reps))
    results = []
    for problem, group, error in zip(problems, groups, errors, strict=True):
        own = {impl.name: next(times) for impl in group}
        results += summarise(cell, problem.config, problem.dtype, own, error)
    return results
