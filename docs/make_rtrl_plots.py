"""Make the figures and tables of docs/rtrl.md (six minutes on a loaded shared machine, 2.6 of them CPU).

    .venv/bin/python docs/make_rtrl_plots.py [output folder, default docs/images] [--replot-cost]

1. Cost: a tanh RNN (2 inputs, H units, a Linear readout, a squared error at every step, one
   sequence) differentiated by BPTT (``backward()`` through the unrolled loop) and by RTRL
   (``mg.teaching.rtrl``) for T in TS and H in HS: time (the process's CPU time, median of REPEATS
   runs: on a shared machine wall time would time the neighbours too) and peak memory (tracemalloc,
   a separate run). Figure rtrl-cost.png, the table printed as markdown.
2. Online learning: a GRU cell (H = 8) predicts the next value of a sine wave whose frequency
   drifts, one step at a time, weights updated by Adam after every step: RTRL against truncated
   BPTT over a sliding window of K steps (TBPTT(K, 1), Williams & Peng 1990), K chosen so that both
   cost the same CPU time per step. Figure rtrl-online.png, the numbers printed.
3. One RTRL step drawn against the BPTT sweep: rtrl-step.svg (Graphviz).

Everything measured also goes to docs/data/rtrl.json, which docs/rtrl.md quotes.
"""
from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np

import micrograd_seq as mg
from micrograd_seq.teaching import RTRL, rtrl

TS, HS, REPEATS, D = (50, 100, 200, 400, 800), (8, 16, 32), 3, 2
STREAM, SEEDS, H_ONLINE, LR, SMOOTH = 3000, (0, 1, 2, 3, 4), 8, 0.01, 250
DATA = Path(__file__).parent / "data" / "rtrl.json"


# ---- 1. cost ---------------------------------------------------------------------------------

def cost_problem(H: int, T: int) -> tuple[mg.nn.RNN, mg.nn.Linear, np.ndarray, np.ndarray]:
    """A tanh RNN with H units, its readout, one random sequence (T, 1, D) and targets (T, 1, 1)."""
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    return mg.nn.RNN(D, H), mg.nn.Linear(H, 1), rng.normal(size=(T, 1, D)), rng.normal(size=(T, 1, 1))


def by_bptt(rnn: mg.nn.RNN, head: mg.nn.Linear, x: np.ndarray, y: np.ndarray) -> None:
    """Reverse mode: the forward pass records every step, one backward() sweeps them back."""
    output, _ = rnn(x)
    mg.functional.mse_loss(head(output), mg.tensor(y), reduction="sum").backward()


def by_rtrl(rnn: mg.nn.RNN, head: mg.nn.Linear, x: np.ndarray, y: np.ndarray) -> None:
    """Forward mode: the sensitivities carried along, nothing stored."""
    rtrl(rnn, x, y, lambda h, target: mg.functional.mse_loss(head(h), mg.tensor(target), reduction="sum"))


def seconds(method: Callable[..., None], H: int, T: int) -> float:
    """The median CPU time of REPEATS runs."""
    times = []
    for _ in range(REPEATS):
        problem = cost_problem(H, T)
        start = time.process_time()
        method(*problem)
        times.append(time.process_time() - start)
    return statistics.median(times)


def peak_bytes(method: Callable[..., None], H: int, T: int) -> int:
    """The most memory the run held at once beyond its inputs, by tracemalloc."""
    problem = cost_problem(H, T)
    gc.collect()
    tracemalloc.start()
    method(*problem)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def measure_cost() -> list[dict]:
    for method in (by_bptt, by_rtrl):  # warm up: first calls fill caches that would count as memory
        method(*cost_problem(4, 5))
    rows = []
    for H in HS:
        for T in TS:
            row = {"H": H, "T": T, "P": H * (H + D + 2)}
            for name, method in (("bptt", by_bptt), ("rtrl", by_rtrl)):
                row[f"{name}_s"] = seconds(method, H, T)
                row[f"{name}_bytes"] = peak_bytes(method, H, T)
            rows.append(row)
            print(f"H={H:>2} T={T:>3}: BPTT {row['bptt_s']:.3f} s {row['bptt_bytes'] / 1e6:.2f} MB, "
                  f"RTRL {row['rtrl_s']:.3f} s {row['rtrl_bytes'] / 1e6:.2f} MB", flush=True)
    return rows


def side_measurements() -> dict:
    """What the page says beyond the grid: RTRL's memory at longer T (flat), and a step at H = 64."""
    side = {f"rtrl_bytes_H8_T{T}": peak_bytes(by_rtrl, 8, T) for T in (800, 1600, 3200)}
    for name, method in (("bptt", by_bptt), ("rtrl", by_rtrl)):
        side[f"{name}_ms_per_step_H64"] = seconds(method, 64, 50) / 50 * 1e3
    print("RTRL's peak at H=8, T=800, 1600, 3200: "
          + ", ".join(f"{side[f'rtrl_bytes_H8_T{T}'] / 1e6:.2f} MB" for T in (800, 1600, 3200))
          + f"; at H=64 a step costs BPTT {side['bptt_ms_per_step_H64']:.2f} ms, "
          f"RTRL {side['rtrl_ms_per_step_H64']:.1f} ms", flush=True)
    return side


def crossovers(rows: list[dict]) -> dict[int, float]:
    """For each H, the T at which BPTT's memory (a line in T) reaches RTRL's (flat: its median)."""
    found = {}
    for H in HS:
        mine = [r for r in rows if r["H"] == H]
        slope, intercept = np.polyfit([r["T"] for r in mine], [r["bptt_bytes"] for r in mine], 1)
        found[H] = float((statistics.median(r["rtrl_bytes"] for r in mine) - intercept) / slope)
    return found


def cost_table(rows: list[dict]) -> str:
    lines = ["| H | P | T | BPTT time | RTRL time | RTRL / BPTT | BPTT peak memory | RTRL peak memory |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['H']} | {r['P']} | {r['T']} | {r['bptt_s'] * 1e3:.0f} ms | {r['rtrl_s'] * 1e3:.0f} ms | "
                     f"{r['rtrl_s'] / r['bptt_s']:.0f}x | {r['bptt_bytes'] / 1e6:.2f} MB | "
                     f"{r['rtrl_bytes'] / 1e6:.2f} MB |")
    return "\n".join(lines)


def plot_cost(rows: list[dict], crossing: dict[int, float], path: Path) -> None:
    from matplotlib import ticker
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 4.3), layout="constrained")
    memory, duration = fig.subplots(1, 2)
    for H, color in zip(HS, ("tab:blue", "tab:orange", "tab:green"), strict=True):
        mine = [r for r in rows if r["H"] == H]
        Ts = [r["T"] for r in mine]
        for name, style in (("bptt", "o-"), ("rtrl", "s--")):
            label = f"{name.upper()}, H = {H}"
            memory.loglog(Ts, [r[f"{name}_bytes"] / 1e6 for r in mine], style, color=color, label=label, ms=4)
            duration.loglog(Ts, [r[f"{name}_s"] for r in mine], style, color=color, label=label, ms=4)
        if Ts[0] < crossing[H] < 1.5 * Ts[-1]:
            memory.axvline(crossing[H], color=color, lw=0.8, ls=":")
            memory.text(crossing[H], 0.98, f" T = {crossing[H]:.0f}", color=color, rotation=90, va="top",
                        ha="right", fontsize=8, transform=memory.get_xaxis_transform())
    memory.set(xlabel="sequence length T", ylabel="peak memory (MB, tracemalloc)",
               title="memory: BPTT's grows with T, RTRL's does not\n(dotted: where they cross)")
    ratio = [r["rtrl_s"] / r["bptt_s"] for r in rows]
    duration.set(xlabel="sequence length T", ylabel="CPU time for the gradient (s, median of 3)",
                 title=f"time: both linear in T; RTRL takes {min(ratio):.0f} to {max(ratio):.0f}x BPTT's here")
    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    memory.set_yticks([0.1, 0.2, 0.5, 1, 2, 5])
    for ax, where in ((memory, "lower right"), (duration, "center right")):
        ax.set_xlim(TS[0] * 0.85, TS[-1] * 1.3)
        ax.set_xticks(TS)
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc=where)
    fig.suptitle("tanh RNN, one sequence, a loss at every step: BPTT (reverse mode) against RTRL (forward mode)")
    fig.savefig(path, dpi=110)


# ---- 2. online learning ----------------------------------------------------------------------

def drifting_sine(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n + 1 samples of sin(φ_t), φ advancing by ω_t = 0.25 + 0.15 sin(2π t / 2000) radians a step; and ω."""
    omega = 0.25 + 0.15 * np.sin(2 * np.pi * np.arange(n + 1) / 2000)
    return np.sin(np.cumsum(omega)), omega


def online_model(seed: int) -> tuple[mg.nn.GRUCell, mg.nn.Linear, mg.optim.Adam]:
    mg.manual_seed(seed)
    cell, head = mg.nn.GRUCell(1, H_ONLINE), mg.nn.Linear(H_ONLINE, 1)
    return cell, head, mg.optim.Adam([*cell.parameters(), *head.parameters()], lr=LR)


def learn_by_rtrl(wave: np.ndarray, seed: int, steps: int) -> tuple[np.ndarray, float]:
    """Predict wave[t + 1] from wave[..t]; one RTRL step and one Adam step per sample. Errors, CPU seconds."""
    cell, head, opt = online_model(seed)
    online = RTRL(cell, lambda h, y: mg.functional.mse_loss(head(h), mg.tensor(y)))
    errors, start = [], time.process_time()
    for t in range(steps):
        opt.zero_grad()
        errors.append(online.step(wave[t:t + 1], wave[t + 1:t + 2]))  # the error before this step's update
        opt.step()
    return np.array(errors), time.process_time() - start


def learn_by_tbptt(wave: np.ndarray, seed: int, steps: int, k: int) -> tuple[np.ndarray, float]:
    """The same, by TBPTT(k, 1): at every step re-run the last k steps from the state before them
    (kept, detached), backward through those k steps only, one Adam step."""
    cell, head, opt = online_model(seed)
    window: deque[float] = deque(maxlen=k)
    before = mg.zeros(1, H_ONLINE)                # the state before the window's first step
    errors, start = [], time.process_time()
    for t in range(steps):
        window.append(wave[t])
        h = before
        for j, value in enumerate(window):
            h = cell(mg.tensor([[value]]), h)
            if j == 0:
                first = h
        loss = mg.functional.mse_loss(head(h)[0], mg.tensor(wave[t + 1:t + 2]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        errors.append(loss.item())
        if len(window) == k:                      # the window slides on: its first state is now history
            before = first.detach()
    return np.array(errors), time.process_time() - start


def equal_compute_window(wave: np.ndarray, probe: int = 150) -> tuple[int, dict[str, float]]:
    """The window K at which TBPTT(K, 1) takes RTRL's CPU time per step, from short timed runs."""
    rtrl_step = learn_by_rtrl(wave, 0, probe)[1] / probe
    small, large = 2, 12
    t_small, t_large = (learn_by_tbptt(wave, 0, probe, k)[1] / probe for k in (small, large))
    per_k = (t_large - t_small) / (large - small)
    k = max(1, round(small + (rtrl_step - t_small) / per_k))
    return k, {"rtrl_ms": rtrl_step * 1e3, "tbptt_ms_per_window_step": per_k * 1e3}


def run_online() -> dict:
    wave, omega = drifting_sine(STREAM)
    k, probe = equal_compute_window(wave)
    print(f"equal compute: RTRL {probe['rtrl_ms']:.2f} ms a step; TBPTT pays {probe['tbptt_ms_per_window_step']:.2f} "
          f"ms per step of its window, so K = {k}", flush=True)
    runs: dict[str, dict] = {}
    for name, learn in (("RTRL", lambda s: learn_by_rtrl(wave, s, STREAM)),
                        (f"TBPTT(K={k})", lambda s: learn_by_tbptt(wave, s, STREAM, k))):
        results = [learn(seed) for seed in SEEDS]
        errors = np.array([r[0] for r in results])
        runs[name] = {"errors": errors, "ms_per_step": [r[1] / STREAM * 1e3 for r in results],
                      "mse_all": errors.mean(axis=1).tolist(), "mse_last_1000": errors[:, -1000:].mean(axis=1).tolist(),
                      "mse_first_1000": errors[:, :1000].mean(axis=1).tolist()}
        print(f"{name:>12}: {np.mean(runs[name]['ms_per_step']):.2f} ms a step; squared error, mean over "
              f"{len(SEEDS)} seeds: steps 0-999 {np.mean(runs[name]['mse_first_1000']):.4f}, "
              f"all {np.mean(runs[name]['mse_all']):.4f}, last 1000 {np.mean(runs[name]['mse_last_1000']):.4f} "
              f"(per seed {', '.join(f'{v:.4f}' for v in runs[name]['mse_last_1000'])})", flush=True)
    return {"k": k, "probe": probe, "omega": omega, "runs": runs}


def plot_online(online: dict, path: Path) -> None:
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(1, 2.2))
    top.plot(online["omega"][:STREAM], color="k", lw=1)
    top.set(ylabel="ω (rad / step)", title="the stream: sin(φ_t), its frequency ω_t drifting")
    kernel = np.ones(SMOOTH) / SMOOTH
    for (name, run), color in zip(online["runs"].items(), ("tab:blue", "tab:red"), strict=True):
        for errors in run["errors"]:
            bottom.semilogy(np.arange(SMOOTH - 1, STREAM), np.convolve(errors, kernel, "valid"), color=color,
                            alpha=0.35, lw=0.8)
        bottom.semilogy(np.arange(SMOOTH - 1, STREAM), np.convolve(run["errors"].mean(axis=0), kernel, "valid"),
                        color=color, lw=2, label=f"{name}: {np.mean(run['ms_per_step']):.1f} ms a step")
    bottom.set(xlabel="time step (one Adam update per step)",
               ylabel=f"squared error, mean of the last {SMOOTH} steps",
               title=f"predicting the next value online, GRU H={H_ONLINE}: thin lines one seed each, thick their mean")
    for ax in (top, bottom):
        ax.grid(True, alpha=0.3)
    bottom.legend()
    fig.savefig(path, dpi=110)


# ---- 3. one step drawn -----------------------------------------------------------------------

def draw_step(path: Path) -> None:
    """One RTRL step (tangents ride forward with the values) next to BPTT (values forward, gradients back)."""
    import graphviz
    g = graphviz.Digraph("rtrl", graph_attr={"rankdir": "LR", "fontname": "Helvetica", "fontsize": "12",
                                             "nodesep": "0.25", "ranksep": "0.4"},
                         node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "white",
                                    "fontname": "Helvetica", "fontsize": "11"},
                         edge_attr={"fontname": "Helvetica", "fontsize": "10"})
    blue, red = "#1f5fbf", "#c0392b"
    with g.subgraph(name="cluster_rtrl") as c:
        c.attr(label="RTRL: one step, forward mode: one jvp of the cell's step, P directions at once", color=blue)
        c.node("x", "xₜ  (B, D)\nno tangent: a constant")
        c.node("s", "sₜ₋₁ = (h, c)  (B, H) each\ntangent Sₜ₋₁ = dsₜ₋₁/dθ  (P, B, H)", color=blue)
        c.node("theta", "θ  (P entries)\ntangent: the identity (P, P),\nchunk_size rows at a time", color=blue)
        c.node("step", "the cell's step\nvalues and tangents together,\nevery op's jvp rule", fillcolor="#e8f0fb")
        c.node("s2", "sₜ\ntangent Sₜ = (∂sₜ/∂s) Sₜ₋₁ + ∂sₜ/∂θ", color=blue)
        c.node("loss", "lₜ = loss_fn(hₜ, yₜ)\na small backward: dlₜ/dhₜ  (B, H)", color=red)
        c.node("grad", "dlₜ/dθ = dlₜ/dhₜ · Sₜʰ\ninto .grad: update the weights now", fillcolor="#fdecea")
        c.node("next", "step t+1\n(sₜ₋₁ and Sₜ₋₁ are dropped)", style="rounded,dashed")
        c.edge("x", "step")
        c.edge("s", "step", color=blue)
        c.edge("theta", "step", color=blue)
        c.edge("step", "s2", color=blue)
        c.edge("s2", "loss", label="hₜ")
        c.edge("loss", "grad", color=red)
        c.edge("s2", "grad", label="Sₜʰ", color=blue)
        c.edge("s2", "next", label="sₜ, Sₜ", color=blue)
    with g.subgraph(name="cluster_bptt") as c:
        c.attr(label="BPTT: the whole sequence forward, every state kept, then one sweep back: reverse mode", color=red)
        subscripts = "₀₁₂₃"
        for t in range(4):
            c.node(f"h{t}", f"h{subscripts[t]}\nkept")
        c.node("L", "L = Σₜ lₜ")
        for t in range(3):
            c.edge(f"h{t}", f"h{t + 1}", label="step")
            c.edge(f"h{t + 1}", f"h{t}", label=f"dL/dh{subscripts[t]}", color=red, constraint="false")
        c.edge("h3", "L")
        c.edge("L", "h3", label="dL/dh₃", color=red, constraint="false")
        c.node("sum", "dL/dθ = Σₜ dL/dsₜ · ∂sₜ/∂θ\nknown only after the sweep", fillcolor="#fdecea")
        c.edge("L", "sum", style="invis")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(g.pipe(format=path.suffix[1:]))


# ---- all of it -------------------------------------------------------------------------------

def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    draw_step(folder / "rtrl-step.svg")
    print(f"wrote {folder / 'rtrl-step.svg'}")
    rows = measure_cost()
    crossing = crossovers(rows)
    print(cost_table(rows))
    print("memory crossovers (T where BPTT's peak reaches RTRL's): "
          + ", ".join(f"H={H}: {T:.0f}" for H, T in crossing.items()))
    plot_cost(rows, crossing, folder / "rtrl-cost.png")
    print(f"wrote {folder / 'rtrl-cost.png'}")
    side = side_measurements()
    online = run_online()
    plot_online(online, folder / "rtrl-online.png")
    print(f"wrote {folder / 'rtrl-online.png'}")
    summary = {name: {key: value for key, value in run.items() if key != "errors"}
               for name, run in online["runs"].items()}
    DATA.write_text(json.dumps({"cost": rows, "memory_crossover_T": crossing, "side": side, "online_k": online["k"],
                                "online_probe": online["probe"], "online": summary}, indent=1) + "\n")
    print(f"wrote {DATA}")


if __name__ == "__main__":
    mg.set_default_dtype(np.float64)
    arguments = [a for a in sys.argv[1:] if a != "--replot-cost"]
    out = Path(arguments[0]) if arguments else Path(__file__).parent / "images"
    if "--replot-cost" in sys.argv:  # redraw rtrl-cost.png from docs/data/rtrl.json, measuring nothing
        measured = json.loads(DATA.read_text())["cost"]
        plot_cost(measured, crossovers(measured), out / "rtrl-cost.png")
    else:
        main(out)
