"""A small "LSTM: A Search Space Odyssey" (Greff et al., 2017): nine LSTM variants, two tasks, several seeds.

Greff et al. took the LSTM with peepholes ("vanilla") and changed one thing at a time:

    NIG   no input gate (i = 1)              NIAF  no input activation function (z = a_z)
    NFG   no forget gate (f = 1)             NOAF  no output activation function (h = o c)
    NOG   no output gate (o = 1)             NP    no peepholes
    CIFG  coupled input and forget gate (f = 1 - i)
    FGR   full gate recurrence (the gates also see the three gates of the step before)

Each variant is ``GreffLSTMCell(variant=...)``, one cell written with ``mg.nn.RecurrentCell``
and run by ``mg.nn.Recurrent``. Two tasks, the same budget for every variant:

- ``adding``: the adding problem at T = 100 (see adding_problem.py); test mean squared error.
- ``chars``: a character-level language model of Python's help topics (see char_lm.py), trained
  with truncated BPTT; validation bits per character.

Every run of a seed sees the same data. The table (mean and standard deviation over the seeds),
every run's numbers (JSON) and a plot are written to ``--out``.
"""
from __future__ import annotations

import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from _common import need, parser, result, save_figure, start
from adding_problem import make_batch
from char_lm import bits_per_char, load_text, streams, unigram_bits

import micrograd_seq as mg

VARIANTS = ("vanilla", "NIG", "NFG", "NOG", "NIAF", "NOAF", "NP", "CIFG", "FGR")
TASKS = ("adding", "chars")


class GreffLSTMCell(mg.nn.RecurrentCell):
    r"""The LSTM block of Greff et al. (2017), eq. (1)-(6), with one of their eight changes or none.

        z = g(W_z x + R_z h + b_z)                      block input, g = tanh
        i = σ(W_i x + R_i h + p_i ⊙ c + b_i)            input gate
        f = σ(W_f x + R_f h + p_f ⊙ c + b_f)            forget gate
        c' = z ⊙ i + c ⊙ f                              cell
        o = σ(W_o x + R_o h + p_o ⊙ c' + b_o)           output gate (peeks at the new cell)
        h' = tanh(c') ⊙ o                               block output

    The rows of the gates a variant drops are not made at all. FGR adds the three gates of the
    previous step to every gate's input, so its state is (h, c, i, f, o).
    """

    def __init__(self, input_size: int, hidden_size: int, variant: str = "vanilla") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"GreffLSTMCell: variant must be one of {VARIANTS}, got {variant!r}")
        super().__init__(input_size, hidden_size)
        self.variant = variant
        dropped = {"NIG": "i", "NFG": "f", "NOG": "o", "CIFG": "f"}.get(variant)
        self.gates = tuple(g for g in "zifo" if g != dropped)
        bound = 1.0 / math.sqrt(hidden_size)
        rows = len(self.gates) * hidden_size
        self.weight_ih = _uniform((rows, input_size), bound)
        self.weight_hh = _uniform((rows, hidden_size), bound)
        self.bias = _uniform((rows,), bound)
        for gate in "ifo":
            if gate in self.gates and variant != "NP":
                setattr(self, f"peephole_{gate}", _uniform((hidden_size,), bound))
        if variant == "FGR":
            self.weight_gates = _uniform((3 * hidden_size, 3 * hidden_size), bound)  # (i, f, o) -> (i, f, o)
            self.state_names = ("h", "c", "i", "f", "o")
        else:
            self.state_names = ("h", "c")

    def prepare(self) -> tuple[mg.Tensor, mg.Tensor | None]:
        """The recurrent weights, transposed once per sequence."""
        return self.weight_hh.T, self.weight_gates.T if self.variant == "FGR" else None

    def project_input(self, x: mg.Tensor, prepared: Any) -> mg.Tensor:
        return x @ self.weight_ih.T + self.bias

    def step(self, x_proj: mg.Tensor, state: tuple, prepared: tuple) -> tuple:
        r_t, g_t = prepared
        h, c = state[0], state[1]
        a = dict(zip(self.gates, (x_proj + h @ r_t).chunk(len(self.gates), axis=-1), strict=True))
        if g_t is not None:  # FGR: every gate also sees the previous step's i, f and o
            for gate, extra in zip("ifo", (mg.concat(state[2:], axis=-1) @ g_t).chunk(3, axis=-1), strict=True):
                a[gate] = a[gate] + extra
        z = a["z"] if self.variant == "NIAF" else a["z"].tanh()
        i = self._gate(a, "i", c)
        f = 1 - i if self.variant == "CIFG" else self._gate(a, "f", c)
        c = (z if i is None else z * i) + (c if f is None else c * f)
        o = self._gate(a, "o", c)
        y = c if self.variant == "NOAF" else c.tanh()
        h = y if o is None else y * o
        return (h, c, i, f, o) if g_t is not None else (h, c)

    def _gate(self, a: dict, gate: str, c: mg.Tensor) -> mg.Tensor | None:
        """σ(a + p ⊙ c), without the peephole term under NP; None for a gate the variant drops."""
        if gate not in a:
            return None
        peephole = getattr(self, f"peephole_{gate}", None)
        return (a[gate] if peephole is None else a[gate] + peephole * c).sigmoid()

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, variant={self.variant!r}"


def _uniform(shape: tuple[int, ...], bound: float) -> mg.nn.Parameter:
    """A parameter ~ U(-bound, bound) from the generator mg.manual_seed seeds, as torch initialises an LSTM."""
    return mg.nn.Parameter(mg.random.generator().uniform(-bound, bound, size=shape))


# ---- the two tasks: each run returns its final metric ---------------------------------------------

def run_adding(variant: str, seed: int, settings: dict) -> float:
    """Adding problem: train on fresh batches, return the test MSE (1,000 sequences)."""
    rng = np.random.default_rng(seed)
    x_test, y_test = make_batch(1000, settings["length"], rng)
    mg.manual_seed(seed)
    layer = mg.nn.Recurrent(GreffLSTMCell, 2, settings["hidden"], batch_first=True, variant=variant)
    head = mg.nn.Linear(settings["hidden"], 1)
    params = [*layer.parameters(), *head.parameters()]
    opt = mg.optim.Adam(params, lr=settings["lr"])
    for _ in range(settings["steps"]):
        x, y = make_batch(settings["batch"], settings["length"], rng)
        out, _ = layer(x)
        loss = mg.functional.mse_loss(head(out[:, -1])[:, 0], y)
        opt.zero_grad()
        loss.backward()
        mg.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    with mg.no_grad():
        out, _ = layer(x_test)
        error = head(out[:, -1]).data[:, 0] - y_test
    return float(np.mean(error ** 2)) if np.isfinite(error).all() else float("nan")


class CharModel(mg.nn.Module):
    """Embedding -> Recurrent(GreffLSTMCell) -> Linear over the vocabulary."""

    def __init__(self, vocab: int, embed: int, hidden: int, variant: str) -> None:
        super().__init__()
        self.embedding = mg.nn.Embedding(vocab, embed)
        self.rnn = mg.nn.Recurrent(GreffLSTMCell, embed, hidden, batch_first=True, variant=variant)
        self.head = mg.nn.Linear(hidden, vocab)

    def forward(self, ids: np.ndarray, state: Any = None) -> tuple[mg.Tensor, Any]:
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state


def char_data(settings: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """Training and validation ids of the first ``chars`` characters of Python's help topics; the vocabulary size."""
    text = load_text(None)[:settings["chars"]]
    index = {c: i for i, c in enumerate(sorted(set(text)))}
    ids = np.array([index[c] for c in text])
    split = int(0.9 * len(ids))
    return ids[:split], ids[split:], len(index)


def run_chars(variant: str, seed: int, settings: dict) -> float:
    """Character language model: truncated BPTT through the training text; return validation bits per character."""
    train_ids, valid_ids, vocab = char_data(settings)
    mg.manual_seed(seed)
    model = CharModel(vocab, settings["embed"], settings["hidden"], variant)
    opt = mg.optim.Adam(model.parameters(), lr=settings["lr"])
    data = streams(train_ids, settings["batch"])
    bptt = settings["bptt"]
    offset = int(np.random.default_rng(seed).integers(bptt))  # each seed cuts the text into chunks differently
    chunks = (data.shape[1] - 1 - offset) // bptt
    state = None
    for step in range(settings["steps"]):
        k = step % chunks
        if k == 0:
            state = None  # each pass through the text starts from the cell's initial state
        p = offset + k * bptt
        x, y = data[:, p:p + bptt], data[:, p + 1:p + bptt + 1]
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)  # truncated BPTT, whatever the cell's state holds
        loss = mg.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        mg.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    bpc = bits_per_char(model, valid_ids, 16, 128)
    return bpc if math.isfinite(bpc) else float("nan")


def baseline(task: str, settings: dict) -> float:
    """What ignoring the sequence scores: guessing 1 (adding), the training text's character frequencies (chars)."""
    if task == "adding":
        _, y = make_batch(1000, settings["length"], np.random.default_rng(0))
        return float(np.mean((y - 1.0) ** 2))
    train_ids, valid_ids, vocab = char_data(settings)
    return unigram_bits(train_ids, valid_ids, vocab)


RUNS = {"adding": run_adding, "chars": run_chars}
METRICS = {"adding": "test MSE", "chars": "validation bits/char"}
BASELINES = {"adding": "guess 1", "chars": "unigram"}


def settings_for(quick: bool) -> dict[str, dict]:
    """Each task's budget: the same for every variant."""
    if quick:
        return {"adding": dict(length=20, hidden=8, batch=16, steps=40, lr=1e-2),
                "chars": dict(chars=30_000, embed=8, hidden=16, batch=8, bptt=16, steps=40, lr=1e-2)}
    return {"adding": dict(length=100, hidden=16, batch=32, steps=2500, lr=1e-2),
            "chars": dict(chars=200_000, embed=16, hidden=64, batch=16, bptt=32, steps=2000, lr=3e-3)}


def one_run(job: tuple[str, str, int, dict]) -> dict:
    """One (task, variant, seed) run, timed; safe to call in a worker process."""
    task, variant, seed, settings = job
    started = time.process_time()
    value = RUNS[task](variant, seed, settings)
    return {"task": task, "variant": variant, "seed": seed, "value": value,
            "cpu_seconds": round(time.process_time() - started, 1)}


def summarise(runs: list[dict], variants: list[str], tasks: list[str]) -> list[str]:
    """A markdown table: per task, each variant's mean ± standard deviation over the seeds, its median,
    and its median relative to vanilla's (the median shrugs off one diverged seed; the mean does not)."""
    head = "| variant | " + " | ".join(f"{task}: {METRICS[task]}, mean ± sd | median | vs vanilla" for task in tasks)
    lines = [head + " |", "|---|" + "---|---|---|" * len(tasks)]
    for variant in variants:
        cells = []
        for task in tasks:
            values, median = _values(runs, task, variant), np.median(_values(runs, task, "vanilla"))
            spread = f" ± {np.std(values, ddof=1):.2g}" if len(values) > 1 else ""
            cells += [f"{np.mean(values):.4g}{spread}", f"{np.median(values):.4g}",
                      "" if variant == "vanilla" else f"{np.median(values) / median:.2f}×"]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def _values(runs: list[dict], task: str, variant: str) -> np.ndarray:
    return np.array([r["value"] for r in runs if r["task"] == task and r["variant"] == variant])


def plot(runs: list[dict], variants: list[str], tasks: list[str], baselines: dict[str, float], out: Path) -> Path:
    """One panel per task: every seed's result as a dot, the median as a bar, the baseline named in the title.

    A result worse than the baseline (a diverged run) is drawn at the top edge, its value written beside it.
    """
    plt = need("matplotlib.pyplot", "matplotlib")
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        every = np.array([r["value"] for r in runs if r["task"] == task])
        sane = every[every <= baselines[task]]
        top = 1.6 * baselines[task] if task == "adding" else sane.max() + 0.25
        for k, variant in enumerate(variants):
            values = _values(runs, task, variant)
            ax.bar(k, min(np.median(values), top), color="#9ecae1" if variant != "vanilla" else "#3182bd", width=0.7)
            ax.scatter([k] * len(values), np.minimum(values, top), color="black", s=9, zorder=3)
            for v in values[values > top]:
                ax.annotate(f"{v:.3g}", (k, top), xytext=(5, -9), textcoords="offset points", fontsize=7)
        if baselines[task] < top:
            ax.axhline(baselines[task], color="grey", linestyle="--", linewidth=1)
        ax.set_title(f"{task} ({BASELINES[task]}: {baselines[task]:.3g}{', dashed' if baselines[task] < top else ''})")
        ax.set_xticks(range(len(variants)), variants, rotation=45)
        ax.set(ylabel=METRICS[task])
        if task == "adding":
            ax.set(yscale="log", ylim=(None, top))
        else:
            ax.set_ylim(max(0.0, sane.min() - 0.3), top)
    return save_figure(fig, out, "lstm_odyssey.png")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--seeds", type=int, default=3, help="seeds per variant and task (default 3)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes running in parallel")
    p.add_argument("--replot", type=Path, default=None, metavar="JSON",
                   help="no training: the table and plot of a finished run, from its lstm_odyssey.json")
    args, _ = start(p)
    if args.replot is not None:
        if not args.replot.is_file():
            p.error(f"--replot: no such file: {args.replot}")
        record = json.loads(args.replot.read_text(encoding="utf-8"))
        runs, settings = record["runs"], record["settings"]
        variants = list(dict.fromkeys(r["variant"] for r in runs))
        tasks = list(dict.fromkeys(r["task"] for r in runs))
    else:
        if args.quick:
            args.seeds, args.workers = 1, 1
            args.variants = [v for v in args.variants if v in ("vanilla", "NFG", "FGR")] or args.variants[:1]
        variants = args.variants if "vanilla" in args.variants else ["vanilla", *args.variants]
        tasks, settings = args.tasks, settings_for(args.quick)
        runs = train_all(variants, tasks, settings, args)
    table = summarise(runs, variants, tasks)
    print("\n".join(table))
    (args.out / "lstm_odyssey.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'lstm_odyssey.md'}")
    baselines = {task: baseline(task, settings[task]) for task in tasks}
    for task in tasks:
        print(f"baseline {task} ({BASELINES[task]}): {baselines[task]:.4g}")
    plot(runs, variants, tasks, baselines, args.out)
    vanilla = float(np.mean(_values(runs, tasks[0], "vanilla")))
    result(f"{tasks[0]}_vanilla", vanilla, baselines[tasks[0]])


def train_all(variants: list[str], tasks: list[str], settings: dict, args: Any) -> list[dict]:
    """Every (task, variant, seed) run, ``args.workers`` at a time; writes every run's result to JSON."""
    jobs = [(task, variant, args.seed + s, settings[task])
            for s in range(args.seeds) for task in tasks for variant in variants]
    print(f"{len(jobs)} runs: {len(variants)} variants x {len(tasks)} tasks x {args.seeds} seeds, "
          f"{args.workers} at a time")
    started, runs = time.perf_counter(), []
    with ProcessPoolExecutor(args.workers) if args.workers > 1 else _InProcess() as pool:
        for run in pool.map(one_run, jobs):
            runs.append(run)
            print(f"  {run['task']:6s} {run['variant']:7s} seed {run['seed']}: {run['value']:.4g} "
                  f"({run['cpu_seconds']:.0f} s CPU)", flush=True)
    wall = time.perf_counter() - started
    print(f"wall time {wall / 60:.1f} min, CPU time {sum(r['cpu_seconds'] for r in runs) / 60:.1f} min")
    (args.out / "lstm_odyssey.json").write_text(json.dumps(
        {"settings": settings, "seeds": args.seeds, "wall_seconds": round(wall), "runs": runs}, indent=1),
        encoding="utf-8")
    print(f"wrote {args.out / 'lstm_odyssey.json'}")
    return runs


class _InProcess:
    """``map`` in this process, for one worker (quick runs, debugging)."""

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def map(self, fn: Any, jobs: list) -> Any:
        return map(fn, jobs)


if __name__ == "__main__":
    main()
