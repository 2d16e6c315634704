"""Make the figures of docs/gradient-flow.md (a minute or two on one core).

    .venv/bin/python docs/make_gradient_flow_plots.py [output folder, default docs/images]

The first three figures: every model reads the same 8 random sequences of 50 steps, and the loss
is on the last hidden state only, so they show how far back from h_50 the gradient reaches; the
third sweeps the recurrent gain and shows how narrow the tanh RNN's good setting is.
The fourth: SGD with and without clip_grad_norm_ on an RNN whose gradients explode.
The set-up is the one the code on docs/gradient-flow.md uses, so the figures show the numbers
that page prints.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import micrograd_seq as mg
from micrograd_seq.teaching import hidden_grad_norms, plot_gradient_flow

T, B, D, H, K = 50, 8, 4, 16, 4
SEEDS = range(6)


def the_data() -> tuple[np.ndarray, np.ndarray]:
    """8 sequences of 50 steps of 4 features, and one class in 0..3 per sequence."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(T, B, D)), rng.integers(0, K, B)


def last_step_loss(targets: np.ndarray):
    """Cross-entropy of a Linear readout of h_T, the last hidden state."""
    mg.manual_seed(0)
    head = mg.nn.Linear(H, K)
    return lambda output: mg.functional.cross_entropy(head(output[-1]), targets, reduction="sum")


def at_init(kind: str, gate_bias: float = 0.0) -> mg.nn.Module:
    """An RNN, LSTM or GRU at torch's initialisation.

    ``gate_bias`` is added to the LSTM's forget or the GRU's update gate.
    """
    mg.manual_seed(1)
    layer = getattr(mg.nn, kind)(D, H)
    if gate_bias:
        layer.bias_ih_l0.data[H:2 * H] += gate_bias  # rows H..2H hold f in (i, f, g, o) and z in (r, z, n)
    return layer


def with_gain(kind: str, gain: float, gate_bias: float = 0.0, inputs: int = D, seed: int = 1) -> mg.nn.Module:
    """A layer whose recurrent weights are N(0, gain^2 / H): each gate's block has spectral radius close to ``gain``.

    ``gate_bias`` is added to the LSTM's forget or the GRU's update gate, as in ``at_init``.
    """
    mg.manual_seed(seed)
    layer = getattr(mg.nn, kind)(inputs, H)
    rows = layer.weight_hh_l0.shape[0]
    layer.weight_hh_l0.data[...] = np.random.default_rng(seed).normal(0.0, gain / np.sqrt(H), (rows, H))
    if gate_bias:
        layer.bias_ih_l0.data[H:2 * H] += gate_bias
    return layer


GAINS = np.round(np.arange(0.5, 4.01, 0.1), 2)
SWEPT = {"tanh RNN": ("RNN", 0.0), "LSTM, forget-gate bias +3": ("LSTM", 3.0), "GRU, update-gate bias +3": ("GRU", 3.0)}


def gain_sweep(x: np.ndarray, loss_fn) -> dict[str, np.ndarray]:
    """|dL/dh_0| / |dL/dh_50| at every gain in GAINS, for each model in SWEPT."""
    return {name: np.array([(g := hidden_grad_norms(with_gain(kind, gain, bias), x, loss_fn))[0] / g[-1]
                            for gain in GAINS]) for name, (kind, bias) in SWEPT.items()}


def plot_gain_sweep(ratios: dict[str, np.ndarray], path: Path) -> Path:
    """The kept fraction against the recurrent gain, log scale, with the band "within 10x of 1" shaded."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(8, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.axhspan(0.1, 10, color="tab:green", alpha=0.12, lw=0, label="within 10x of 1: the gradient reaches h_0")
    for (name, ratio), style in zip(ratios.items(), ("o-", "s-", "^-"), strict=True):
        ax.semilogy(GAINS, ratio, style, ms=3.5, lw=1.2, label=name)
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set(xlabel="recurrent gain (W_hh drawn from N(0, gain²/H))", ylabel="|dL/dh_0| / |dL/dh_50|",
           title="how much gradient survives 50 steps back, against the recurrent gain")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


def train_delayed_copy(clip: float | None, seed: int, gain: float = 2.0, steps: int = 200,
                       lr: float = 0.3) -> np.ndarray:
    """SGD on "output the symbol seen 2 steps ago" (4 symbols, 16 sequences of 50 steps).

    Returns one row per step: the loss, the gradient norm before clipping, the length of the
    SGD step (lr times the clipped norm), and the fraction of hidden values in tanh's flat tails
    (|h| > 0.99), where the gradient dies.
    """
    symbols = np.random.default_rng(0).integers(0, K, (T, 16))
    x, targets = np.eye(K)[symbols], symbols[:-2].reshape(-1)
    rnn = with_gain("RNN", gain, inputs=K, seed=seed)
    head = mg.nn.Linear(H, K)
    params = [*rnn.parameters(), *head.parameters()]
    optimizer = mg.optim.SGD(params, lr=lr)
    rows = []
    for _ in range(steps):
        output, _ = rnn(x)
        loss = mg.functional.cross_entropy(head(output[2:]).reshape(-1, K), targets)
        optimizer.zero_grad()
        loss.backward()
        norm = mg.nn.utils.clip_grad_norm_(params, clip if clip is not None else float("inf"))
        optimizer.step()
        step = lr * min(norm, clip if clip is not None else norm)
        rows.append((loss.item(), norm, step, float((np.abs(output.data) > 0.99).mean())))
    return np.array(rows)


def clipping_runs(clip: float = 1.0) -> dict[str, list[np.ndarray]]:
    """The last figure's twelve runs: six initialisations without clipping, the same six with it."""
    return {label: [train_delayed_copy(max_norm, seed) for seed in SEEDS]
            for max_norm, label in ((None, "no clipping"), (clip, f"clip_grad_norm_({clip})"))}


def summary(label: str, seed: int, rows: np.ndarray) -> str:
    """One run in a line: loss at the start and over the last 20 steps, its extremes, saturation at the end."""
    return (f"{label:>20} seed {seed}: loss {rows[0, 0]:.3f} -> {rows[-20:, 0].mean():.3f}, largest step "
            f"{rows[:, 2].max():.2f}, largest gradient {rows[:, 1].max():.1f}, saturated at the end {rows[-1, 3]:.2f}")


def plot_clipping(runs: dict[str, list[np.ndarray]], path: Path, clip: float = 1.0) -> None:
    """Four panels against the SGD step, six runs each with and without clipping; each unclipped run's
    largest step is marked in every panel, so its loss spike and the saturation it leaves line up."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    for (label, seeds), color in zip(runs.items(), ("tab:red", "tab:blue"), strict=True):
        for seed, rows in enumerate(seeds):
            biggest = int(rows[:, 2].argmax())
            for ax, column in zip(axes, rows.T, strict=True):
                ax.plot(column, color=color, alpha=0.6, lw=1, label=label if seed == 0 else None)
                if label == "no clipping":
                    ax.plot(biggest, column[biggest], "o", color=color, ms=5, mec="k", mew=0.6,
                            label="largest step of a run" if seed == 0 and ax is axes[0] else None)
    axes[0].set(ylabel="training loss (mean cross-entropy)", ylim=(0, 1.6))
    axes[1].set(ylabel="gradient norm before clipping", yscale="log")
    axes[1].axhline(clip, color="k", lw=0.8, ls="--")
    axes[2].set(ylabel="length of the SGD step, lr · |clipped g|", yscale="log")
    axes[2].axhline(0.3 * clip, color="k", lw=0.8, ls="--")
    axes[3].set(ylabel="fraction of |h| > 0.99 (tanh saturated)", ylim=(0, 1))
    for ax in axes:
        ax.set_xlabel("SGD step (lr 0.3)")
        ax.grid(True, alpha=0.3)
    axes[0].legend()
    fig.suptitle("tanh RNN with recurrent gain 2, six initialisations each: SGD with and without clipping")
    fig.savefig(path, dpi=110)


def main(folder: Path) -> None:
    x, targets = the_data()
    loss_fn = last_step_loss(targets)
    layers = {kind: at_init(kind) for kind in ("RNN", "LSTM", "GRU")}
    layers["LSTM, forget-gate bias +3"] = at_init("LSTM", 3.0)
    layers["GRU, update-gate bias +3"] = at_init("GRU", 3.0)
    path = plot_gradient_flow(layers, x, loss_fn, folder / "gradient-flow-vanishing.png",
                              "vanishing: 50 steps back from a loss on h_50")
    print(f"wrote {path}")
    gains = {f"RNN, gain {gain}": with_gain("RNN", gain) for gain in (0.5, 1, 2, 3)}
    path = plot_gradient_flow(gains, x, loss_fn, folder / "gradient-flow-exploding.png",
                              "exploding: tanh RNNs with recurrent weights N(0, gain²/H)")
    print(f"wrote {path}")
    path = plot_gain_sweep(gain_sweep(x, loss_fn), folder / "gradient-flow-gain-sweep.png")
    print(f"wrote {path}")
    runs = clipping_runs()
    for label, seeds in runs.items():
        for seed, rows in enumerate(seeds):
            print(summary(label, seed, rows))
    path = folder / "gradient-flow-clipping.png"
    plot_clipping(runs, path)
    print(f"wrote {path}")


if __name__ == "__main__":
    mg.set_default_dtype(np.float64)
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "images")
