"""The machine a timing runs on: BLAS pinned to one thread, and a record of what a timing depends on.

Import this module before anything imports numpy: BLAS libraries read their thread variables
once, when numpy loads them. Every benchmark script does so first. ``record()`` gathers the
CPU, library versions, thread pools, git commit and load average; ``describe()`` prints them.
"""
from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
PINNED = "numpy" not in sys.modules
if PINNED:
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import platform  # after the pinning, as everything below
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["THREAD_VARIABLES", "PINNED", "RESULTS", "pin_torch", "load_average", "record", "describe"]

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"  # where the scripts write their records (git-ignored)


def pin_torch() -> Any:
    """torch on one thread, or None when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none): how shared the machine was."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def _git() -> str | None:
    try:
        commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "../micrograd_seq"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + (" (engine modified)" if dirty else "")


def record() -> dict[str, Any]:
    """CPU, library versions, thread settings, commit and load: what a timing means depends on all of them."""
    info: dict[str, Any] = {
        "cpu": _cpu(), "logical_cpus": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARIABLES}, "pinned_before_numpy": PINNED,
        "load_average": load_average(), "git": _git(),
    }
    try:
        from threadpoolctl import threadpool_info
        info["threadpools"] = [{k: pool.get(k) for k in ("internal_api", "prefix", "version", "num_threads")}
                               for pool in threadpool_info()]
    except ImportError:
        info["threadpools"] = None
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def describe(info: dict[str, Any]) -> str:
    """The record as a few lines for a report's header, with a warning when a thread pool is not at 1."""
    lines = [f"machine: {info['cpu']}, {info['logical_cpus']} logical CPUs; Python {info['python']}, "
             f"numpy {info['numpy']}" + (f", torch {info['torch']}" if "torch" in info else "")
             + (f"; git {info['git']}" if info.get("git") else "")]
    if info["threadpools"] is not None:
        pools = ", ".join(f"{p['prefix']} {p['version'] or ''} ({p['internal_api']}): {p['num_threads']} thread(s)"
                          for p in info["threadpools"])
        torch_threads = f"; torch: {info['torch_threads']}" if "torch" in info else ""
        lines.append(f"threads (threadpoolctl): {pools}{torch_threads}")
        if any(p["num_threads"] != 1 for p in info["threadpools"]):
            lines.append("WARNING: a thread pool is not pinned to 1 thread; timings are not comparable")
    else:
        lines.append("threads (environment, threadpoolctl not installed): "
                     + ", ".join(f"{k}={v}" for k, v in info["thread_env"].items()))
    if info["pinned_before_numpy"]:
        lines.append(f"BLAS threads pinned to 1 via {', '.join(THREAD_VARIABLES)} before numpy was imported"
                     + ("; torch.set_num_threads(1)" if "torch" in info else ""))
    else:
        lines.append("WARNING: numpy was imported before benchmarks/machine.py, so the BLAS thread variables "
                     "were not set by it")
    if info["load_average"] is not None:
        lines.append(f"load average (1, 5, 15 min): {', '.join(map(str, info['load_average']))} "
                     f"on {info['logical_cpus']} CPUs")
    return "\n".join(lines)
