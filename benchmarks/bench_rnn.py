"""Time forward + BPTT of a recurrent model: micrograd_seq against hand-written numpy and PyTorch.

The model: an RNN, LSTM or GRU layer (T steps, batch B, input D, hidden H), a Linear head (K
classes) on every step, and cross-entropy summed over all steps. Implementations:

- ``numpy``: hand-written forward and BPTT (numpy_bptt.py), the floor every ratio is relative to;
- ``ours``: micrograd_seq's mg.nn layer, Linear and cross_entropy, BPTT from the generic backward;
- ``torch autograd``: torch over the same primitive cell, unrolled by a Python loop (torch_cell.py);
- ``torch.nn fused``: torch.nn.RNN/LSTM/GRU.

Before timing a configuration, every implementation must give the same loss and gradients as
the numpy floor (float64: to ~1e-12), or the run stops. Timing is round-robin (one call of
each implementation per round, the order rotating), after warm-up, reporting medians, with
BLAS on one thread.

    python benchmarks/bench_rnn.py                       # the table, float64 (a few minutes)
    python benchmarks/bench_rnn.py --dtype float32 --cells lstm --configs 50,32,64,128,64
    python benchmarks/bench_rnn.py --profile --cells lstm --configs 100,1,16,32,16
    python benchmarks/bench_rnn.py --scan docs/images/perf   # time vs T and vs H, as plots
    python benchmarks/bench_rnn.py --baseline before.json    # ours now against an earlier run
"""
from __future__ import annotations

import os
import sys

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
if "numpy" not in sys.modules:  # BLAS libraries read these once, when numpy loads them
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, "1"))

import argparse
import cProfile
import datetime
import gc
import json
import platform
import pstats
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy_bptt

import micrograd_seq as mg

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"  # git-ignored


@dataclass(frozen=True)
class Config:
    """Sequence length T, batch B, input size D, hidden size H, classes K."""

    T: int
    B: int
    D: int
    H: int
    K: int

    @classmethod
    def parse(cls, text: str) -> Config:
        try:
            values = [int(v) for v in text.replace("(", "").replace(")", "").split(",")]
            config = cls(*values)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(
                f"a configuration is five positive integers T,B,D,H,K, got {text!r}") from None
        if min(values) <= 0:
            raise argparse.ArgumentTypeError(f"a configuration is five positive integers T,B,D,H,K, got {text!r}")
        return config

    def __str__(self) -> str:
        return f"({self.T}, {self.B}, {self.D}, {self.H}, {self.K})"


CONFIGS = tuple(Config(*c) for c in [(100, 1, 16, 32, 16), (50, 32, 64, 128, 64), (20, 64, 256, 512, 256),
                                     (1000, 8, 32, 64, 32)])
QUICK_CONFIGS = (Config(6, 2, 3, 4, 5), Config(4, 1, 2, 3, 2))
CELLS = ("lstm", "gru", "rnn")
IMPLS = ("numpy", "ours", "torch autograd", "torch.nn fused")
# Errors are max |ours - numpy| / max |numpy| over each gradient (and relative for the loss).
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}
# The goals: ratio of medians ours / numpy at float64, one thread; and torch autograd's ratio then.
GOALS = [("lstm", Config(100, 1, 16, 32, 16), 3.0, 7.4, "per-node overhead"),
         ("lstm", Config(50, 32, 64, 128, 64), 1.2, 1.3, ""),
         ("gru", Config(50, 32, 64, 128, 64), 1.2, 1.4, ""),
         ("rnn", Config(50, 32, 64, 128, 64), 1.3, 1.5, ""),
         ("lstm", Config(1000, 8, 32, 64, 32), 2.0, 3.5, ""),
         ("lstm", Config(20, 64, 256, 512, 256), 1.1, 1.1, "matmul-bound")]


# ---- the problem every implementation solves ----------------------------------------------------

class SequenceModel(mg.nn.Module):
    """A recurrent layer and a Linear head on every step, trained with cross-entropy summed over time."""

    LAYERS = {"rnn": mg.nn.RNN, "lstm": mg.nn.LSTM, "gru": mg.nn.GRU}

    def __init__(self, cell: str, config: Config) -> None:
        super().__init__()
        self.rnn = self.LAYERS[cell](config.D, config.H)
        self.head = mg.nn.Linear(config.H, config.K)

    def forward(self, x: mg.Tensor, targets: np.ndarray, state: Any = None) -> tuple[mg.Tensor, Any]:
        """The summed loss over (T, B) and the final recurrent state."""
        out, state = self.rnn(x, state)
        logits = self.head(out.reshape(-1, out.shape[-1]))
        return mg.functional.cross_entropy(logits, targets.reshape(-1), reduction="sum"), state

    def by_numpy_name(self) -> dict[str, mg.nn.Parameter]:
        """Our parameters under numpy_bptt's names (weight_ih for rnn.weight_ih_l0, head.* as is)."""
        own = dict(self.named_parameters())
        return {name: own[name if name.startswith("head.") else f"rnn.{name}_l0"] for name in numpy_bptt.PARAM_NAMES}

    def numpy_params(self) -> dict[str, np.ndarray]:
        """The parameter arrays (shared, not copied) under numpy_bptt's names."""
        return {name: p.data for name, p in self.by_numpy_name().items()}

    def numpy_grads(self) -> dict[str, np.ndarray]:
        return {name: p.grad for name, p in self.by_numpy_name().items()}


@dataclass
class Problem:
    cell: str
    config: Config
    dtype: np.dtype
    model: SequenceModel
    x: np.ndarray
    targets: np.ndarray


def make_problem(cell: str, config: Config, dtype: Any, seed: int = 0) -> Problem:
    """Our model, initialised as torch.nn would be, and random inputs and targets, all from ``seed``."""
    dtype = np.dtype(dtype)
    previous = mg.get_default_dtype()
    mg.set_default_dtype(dtype)
    try:
        mg.manual_seed(seed)
        model = SequenceModel(cell, config)
    finally:
        mg.set_default_dtype(previous)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((config.T, config.B, config.D)).astype(dtype)
    targets = rng.integers(0, config.K, size=(config.T, config.B))
    return Problem(cell, config, dtype, model, x, targets)


# ---- implementations: step() runs forward + backward from fresh gradients; grads() reads them ----

class NumpyReference:
    """The hand-written forward and BPTT (the floor), on our model's parameter arrays."""

    name = "numpy"

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.params = problem.model.numpy_params()
        self._grads: dict[str, np.ndarray] = {}

    def step(self) -> float:
        p = self.problem
        loss, self._grads = numpy_bptt.loss_and_grads(p.cell, self.params, p.x, p.targets)
        return loss

    def grads(self) -> dict[str, np.ndarray]:
        return self._grads


class Ours:
    """micrograd_seq: the layer's graph and the one generic backward."""

    name = "ours"

    def __init__(self, problem: Problem) -> None:
        self.model = problem.model
        self.x = mg.tensor(problem.x, dtype=problem.dtype)
        self.targets = problem.targets

    def step(self) -> float:
        self.model.zero_grad()
        loss, _ = self.model(self.x, self.targets)
        loss.backward()
        return loss.item()

    def grads(self) -> dict[str, np.ndarray]:
        return self.model.numpy_grads()


def torch_cell_module() -> Any:
    """benchmarks/torch_cell.py with torch on one thread, or None when torch is not installed."""
    try:
        import torch
        import torch_cell
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch_cell


TORCH_MODELS = {"torch autograd": "PrimitiveModel", "torch.nn fused": "FusedModel"}


def make_implementations(problem: Problem, names: Sequence[str]) -> list:
    """The named implementations (see IMPLS), each set up on ``problem``; torch's need torch installed."""
    made = []
    for name in names:
        if name == "numpy":
            made.append(NumpyReference(problem))
        elif name == "ours":
            made.append(Ours(problem))
        else:
            model = getattr(torch_cell_module(), TORCH_MODELS[name])
            made.append(model(problem.cell, problem.model.numpy_params(), problem.x, problem.targets))
    return made


# ---- verification: a benchmark of wrong maths is worthless ----------------------------------------

class VerificationError(AssertionError):
    """An implementation disagrees with the numpy floor on the loss or a gradient."""


def verify(impls: Sequence, dtype: np.dtype) -> dict[str, float]:
    """Each implementation's worst error against the first (numpy); raises VerificationError past the tolerance."""
    reference, others = impls[0], impls[1:]
    ref_loss = reference.step()
    ref_grads = {k: v.copy() for k, v in reference.grads().items()}
    tolerance = TOLERANCE[np.dtype(dtype).name]
    errors = {reference.name: 0.0}
    for impl in others:
        loss = impl.step()
        grads = impl.grads()
        worst = abs(loss - ref_loss) / max(abs(ref_loss), np.finfo(np.float64).tiny)
        where = "loss"
        for name, ref in ref_grads.items():
            got = grads[name]
            if got is None or got.shape != ref.shape:
                raise VerificationError(f"{impl.name}: gradient {name} is {None if got is None else got.shape}, "
                                        f"expected shape {ref.shape}")
            err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), np.finfo(np.float64).tiny))
            if err > worst:
                worst, where = err, name
        if not worst <= tolerance:
            raise VerificationError(f"{impl.name} disagrees with the hand-written numpy BPTT: relative error "
                                    f"{worst:.3g} in {where} exceeds {tolerance:g}")
        errors[impl.name] = worst
    return errors


# ---- timing -------------------------------------------------------------------------------------------

def time_round_robin(impls: Sequence, reps: int | None, budget: float, warmup: int,
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
    ratio_to_numpy: float
    paired_ratio: float  # median over rounds of this time / numpy's in the same round
    max_error: float

    @property
    def config(self) -> Config:
        return Config(self.T, self.B, self.D, self.H, self.K)


def measure(cell: str, configs: Sequence[Config], dtype: Any, impl_names: Sequence[str], reps: int | None,
            budget: float, warmup: int, seed: int = 0, min_reps: int = 5) -> list[Result]:
    """Verify every implementation on each configuration, then time them all in one round-robin."""
    problems = [make_problem(cell, config, dtype, seed) for config in configs]
    groups = [make_implementations(problem, impl_names) for problem in problems]
    errors = [verify(group, problem.dtype) for group, problem in zip(groups, problems, strict=True)]
    times = iter(time_round_robin([impl for group in groups for impl in group], reps, budget, warmup, min_reps))
    results = []
    for problem, group, error in zip(problems, groups, errors, strict=True):
        own = {impl.name: next(times) for impl in group}
        floor = float(np.median(own["numpy"]))
        for name, samples in own.items():
            q1, median, q3 = (float(v) for v in np.percentile(samples, [25, 50, 75]))
            paired = float(np.median(np.divide(samples, own["numpy"])))
            results.append(Result(cell, problem.dtype.name, *asdict(problem.config).values(), name, median, q1, q3,
                                  len(samples), median / floor, paired, error[name]))
    return results


# ---- the machine and the thread settings, for the record ------------------------------------------

def machine() -> dict[str, Any]:
    """CPU, library versions and thread settings: what a timing means depends on all of them."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "thread_env": {v: os.environ.get(v) for v in THREAD_VARIABLES},
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
    try:
        commit = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(HERE), "status", "--porcelain", "--", "../micrograd_seq"],
                               capture_output=True, text=True, check=True).stdout.strip()
        info["git"] = commit + (" (engine modified)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        info["git"] = None
    return info


def describe_machine(info: dict[str, Any]) -> str:
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
    return "\n".join(lines)


# ---- reports ------------------------------------------------------------------------------------------

def print_table(results: Sequence[Result]) -> None:
    header = f"{'cell':5} {'dtype':7} {'(T, B, D, H, K)':24} {'implementation':15} {'median ms':>10} " \
             f"{'IQR ms':>15} {'us/step':>9} {'/numpy':>7} {'paired':>7} {'reps':>4} {'max err':>8}"
    print(header)
    print("-" * len(header))
    previous = None
    for r in results:
        key = (r.cell, r.dtype, r.config)
        if previous is not None and key != previous:
            print()
        previous = key
        print(f"{r.cell:5} {r.dtype:7} {str(r.config):24} {r.impl:15} {r.median_s * 1e3:10.3f} "
              f"{f'{r.q1_s * 1e3:.3f}-{r.q3_s * 1e3:.3f}':>15} {r.median_s / r.T * 1e6:9.1f} "
              f"{r.ratio_to_numpy:7.2f} {r.paired_ratio:7.2f} {r.reps:4d} {r.max_error:8.1e}")


def print_goals(results: Sequence[Result]) -> list[dict[str, Any]]:
    """The issue's goals next to the ratios measured now (float64 only)."""
    found = {(r.cell, r.config, r.impl): r for r in results if r.dtype == "float64"}
    rows = []
    for cell, config, goal, torch_then, note in GOALS:
        ours, peer = found.get((cell, config, "ours")), found.get((cell, config, "torch autograd"))
        if ours is None:
            continue
        rows.append({"cell": cell, "config": str(config), "goal": goal, "ours": ours.ratio_to_numpy,
                     "ours_paired": ours.paired_ratio, "torch_autograd": peer.ratio_to_numpy if peer else None,
                     "torch_autograd_in_issue": torch_then, "met": ours.ratio_to_numpy <= goal, "note": note})
    if rows:
        print("\nGoals (ratio of medians to hand-written numpy, float64, one thread):")
        print(f"{'cell':5} {'(T, B, D, H, K)':24} {'goal':>6} {'ours':>6} {'paired':>7} {'torch autograd':>15} "
              f"{'(issue)':>8}  met")
        for row in rows:
            torch_now = f"{row['torch_autograd']:.2f}" if row["torch_autograd"] is not None else "-"
            print(f"{row['cell']:5} {row['config']:24} {row['goal']:6.1f} {row['ours']:6.2f} {row['ours_paired']:7.2f} "
                  f"{torch_now:>15} {row['torch_autograd_in_issue']:8.1f}  {'yes' if row['met'] else 'NO'}"
                  + (f"  ({row['note']})" if row["note"] else ""))
    return rows


def print_baseline(results: Sequence[Result], path: Path) -> None:
    """Ours now against ours in an earlier JSON (different runs: noisier than the interleaved ratios)."""
    before = {(r["cell"], r["dtype"], Config(r["T"], r["B"], r["D"], r["H"], r["K"])): r
              for r in json.loads(path.read_text())["results"] if r["impl"] == "ours"}
    print(f"\nOurs against {path}: medians and ratio to numpy (the ratio, measured within each run, is the fairer "
          "comparison); rows for docs/performance.md:")
    print("| change | config | before | after |")
    print("|---|---|---|---|")
    for r in results:
        old = before.get((r.cell, r.dtype, r.config))
        if r.impl == "ours" and old is not None:
            print(f"| ... | {r.cell.upper()} {r.config} {r.dtype} | {old['median_s'] * 1e3:.3g} ms "
                  f"({old['ratio_to_numpy']:.2f}x numpy) | {r.median_s * 1e3:.3g} ms ({r.ratio_to_numpy:.2f}x numpy) |")


def profile(cell: str, config: Config, dtype: Any, top: int, sort: str, seconds: float = 3.0) -> None:
    """cProfile of ours on one problem, over as many steps as fit in ``seconds``; prints the top functions."""
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


# ---- scans: time against T (linear, as BPTT must be) and against H --------------------------------

def scan_configs(quick: bool) -> dict[str, list[Config]]:
    if quick:
        return {"T": [Config(t, 2, 3, 4, 3) for t in (2, 4, 8)], "H": [Config(3, 2, 3, h, 3) for h in (2, 4, 8)]}
    return {"T": [Config(t, 8, 32, 64, 32) for t in (25, 50, 100, 200, 400, 800)],
            "H": [Config(50, 32, 64, h, 64) for h in (16, 32, 64, 128, 256, 512)]}


def scan(cell: str, dtype: Any, impl_names: Sequence[str], prefix: Path, quick: bool, budget: float,
         reps: int | None) -> dict[str, list[dict]]:
    """Measure along T and along H (each axis in one round-robin) and save ``<prefix>-T.png``, ``<prefix>-H.png``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, list[dict]] = {}
    for axis, configs in scan_configs(quick).items():
        results = measure(cell, configs, dtype, impl_names, reps, budget * len(configs), warmup=1)
        out[axis] = [asdict(r) for r in results]
        xs = [getattr(c, axis) for c in configs]
        lines = {impl: [r for r in results if r.impl == impl] for impl in dict.fromkeys(r.impl for r in results)}
        panels = 3 if axis == "T" else 2
        fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2))
        for impl, rows in lines.items():
            per_step = [r.median_s / r.T * 1e6 for r in rows]
            if axis == "T":
                total = [r.median_s * 1e3 for r in rows]
                line, = axes[0].plot(xs, total, "o", label=impl)
                slope = np.dot(xs, total) / np.dot(xs, xs)  # least squares through the origin
                axes[0].plot([0, xs[-1]], [0, slope * xs[-1]], "--", color=line.get_color(), linewidth=0.9)
                axes[1].plot(xs, per_step, "o-", label=impl)
            else:
                axes[0].loglog(xs, per_step, "o-", label=impl)
            axes[-1].plot(xs, [r.ratio_to_numpy for r in rows], "o-", label=impl)
        if axis == "T":
            axes[0].set(xlabel="T", ylabel="forward + backward, ms", title="total time against T (dashed: a line)")
            axes[1].set(xlabel="T", ylabel="per time step, us", title="time per step (flat = linear in T)",
                        xscale="log", ylim=(0, None))
        else:
            axes[0].set(xlabel="H", ylabel="per time step, us", title="time per step against H")
        axes[-1].set(xlabel=axis, ylabel="ratio of medians to hand-written numpy", title="ratio to numpy", xscale="log")
        axes[-1].axhline(1.0, color="grey", linewidth=0.8)
        for ax in axes:
            if ax.get_xscale() == "log":
                ax.set_xticks(xs, [str(x) for x in xs])
                ax.minorticks_off()
            ax.grid(True, alpha=0.3)
        axes[0].legend()
        fixed = ", ".join(f"{k}={v}" for k, v in asdict(configs[0]).items() if k != axis)
        fig.suptitle(f"{cell.upper()} {np.dtype(dtype).name}, one BLAS thread, {fixed}; medians, interleaved")
        fig.tight_layout()
        path = Path(f"{prefix}-{axis}.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"saved {path}", flush=True)
    return out


# ---- command line -------------------------------------------------------------------------------------

def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", nargs="+", choices=CELLS, default=list(CELLS), help="recurrent cells")
    parser.add_argument("--configs", nargs="+", type=Config.parse, metavar="T,B,D,H,K",
                        help=f"configurations (default: {', '.join(map(str, CONFIGS))})")
    parser.add_argument("--dtype", nargs="+", choices=("float64", "float32"), default=["float64"])
    parser.add_argument("--impls", nargs="+", choices=("ours", "torch-autograd", "torch-fused"),
                        default=["ours", "torch-autograd", "torch-fused"],
                        help="implementations besides numpy (always run: it is the reference)")
    parser.add_argument("--reps", type=int, help="timed rounds per configuration (default: fit --budget)")
    parser.add_argument("--budget", type=float, default=5.0, help="seconds of timed rounds per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds after the verification call")
    parser.add_argument("--quick", action="store_true", help="tiny configurations, seconds (a smoke test)")
    parser.add_argument("--json", type=Path, help="where to write the results (default: benchmarks/results/"
                        "latest.json, or scan.json with --scan)")
    parser.add_argument("--baseline", type=Path, help="an earlier --json output to compare ours with")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the table: cProfile ours on the first cell, config and dtype")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--profile-sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument("--scan", type=Path, metavar="PREFIX",
                        help="instead of the table: time against T and H on the first cell, "
                             "saved as PREFIX-T.png, PREFIX-H.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.reps is not None and args.reps < 1:
        parser.error("--reps must be at least 1")
    if args.warmup < 1:
        parser.error("--warmup must be at least 1 (its last round sets the number of timed rounds)")
    if args.json is None:
        args.json = RESULTS / ("scan.json" if args.scan is not None else "latest.json")
    if args.configs is None:
        args.configs = list(QUICK_CONFIGS if args.quick else CONFIGS)
    if args.quick:
        args.reps, args.warmup = args.reps or 3, 1
    names = dict(zip(("ours", "torch-autograd", "torch-fused"), IMPLS[1:], strict=True))
    args.impl_names = ["numpy"] + [names[i] for i in args.impls]
    if any(name.startswith("torch") for name in args.impl_names) and torch_cell_module() is None:
        print("torch is not installed: timing numpy and ours only")
        args.impl_names = [name for name in args.impl_names if not name.startswith("torch")]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    info = machine()
    print(describe_machine(info))
    print(f"BLAS threads pinned to 1 via {', '.join(THREAD_VARIABLES)} before numpy was imported"
          + ("; torch.set_num_threads(1)" if "torch" in info else ""))
    if args.profile:
        profile(args.cells[0], args.configs[0], args.dtype[0], args.profile_top, args.profile_sort,
                seconds=0.5 if args.quick else 3.0)
        return 0
    record: dict[str, Any] = {"command": " ".join(["bench_rnn.py", *(sys.argv[1:] if argv is None else argv)]),
                              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                              "machine": info}
    if args.scan is not None:
        print(f"scan: {args.cells[0].upper()} {args.dtype[0]}, implementations {', '.join(args.impl_names)}")
        record["scans"] = scan(args.cells[0], args.dtype[0], args.impl_names, args.scan, args.quick,
                               budget=0.3 if args.quick else 1.5, reps=args.reps)
    else:
        results: list[Result] = []
        start = time.perf_counter()
        for dtype in args.dtype:
            for config in args.configs:
                for cell in args.cells:
                    results += measure(cell, [config], dtype, args.impl_names, args.reps, args.budget, args.warmup,
                                       args.seed)
                    print(f"  {cell.upper()} {config} {dtype} verified and timed", flush=True)
        print(f"\nmedians over round-robin repetitions after the verification call and {args.warmup} warm-up round(s); "
              f"/numpy = ratio of medians; paired = median of the per-round ratios (less sensitive to load "
              f"drifting); max err = worst error against numpy (loss and gradients); "
              f"{time.perf_counter() - start:.0f} s\n")
        print_table(results)
        record["results"] = [asdict(r) for r in results]
        record["goals"] = print_goals(results)
        if args.baseline is not None:
            print_baseline(results, args.baseline)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
