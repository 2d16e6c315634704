"""The adding problem (Hochreiter and Schmidhuber, 1997): a tanh RNN, an LSTM and a GRU on the same budget.

Each sequence is T pairs (value, marker): values uniform in [0, 1], markers 0 except at two
positions, one in each half. The target is the sum of the two marked values, read from the last
hidden state. Guessing the mean (1) scores a mean squared error of about 1/6; a sequence counts
as solved when the answer is within 0.04 (H&S's criterion). The longer T, the further back the
gradient must carry the first marked value. Every cell gets the same hidden size, batch size,
optimiser, learning rate, clipping and number of steps.
"""
from __future__ import annotations

import time

import numpy as np
from _common import ManyToOne, Progress, need, parser, result, save_figure, start

import micrograd_seq as mg

CELLS = ("rnn", "lstm", "gru")
TOLERANCE = 0.04
PLATEAU = 1 / 12  # half the MSE of guessing 1: a cell whose running training MSE falls below it has left the plateau


def make_batch(n: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` sequences (n, length, 2) of (value, marker) and their targets (n,)."""
    values = rng.uniform(0.0, 1.0, size=(n, length))
    markers = np.zeros((n, length))
    rows = np.arange(n)
    half = length // 2
    markers[rows, rng.integers(0, half, n)] = 1.0
    markers[rows, rng.integers(half, length, n)] = 1.0
    targets = (values * markers).sum(axis=1)
    return np.stack([values, markers], axis=-1).astype(np.float32), targets.astype(np.float32)


def train(model: ManyToOne, length: int, steps: int, rng: np.random.Generator) -> list[float]:
    """Train on fresh batches of sequences of ``length`` for ``steps`` steps; returns the loss curve."""
    cell = type(model.rnn).__name__
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    curve = []
    with Progress(steps, f"{cell:>4} T={length:<3}") as bar:
        for _ in range(steps):
            x, y = make_batch(64, length, rng)
            loss = mg.functional.mse_loss(model(x)[:, 0], y)
            opt.zero_grad()
            loss.backward()
            mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            bar.step(loss.item())
            curve.append(bar.loss)
    return curve


def left_plateau(curve: list[float]) -> str:
    """The first step at which the running training MSE is below PLATEAU, or "never"."""
    below = np.flatnonzero(np.asarray(curve) < PLATEAU)
    return str(below[0] + 1) if len(below) else "never"


def hidden_gradient_norms(model: ManyToOne, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|dL/dh_t| (Frobenius norm over batch and units) for t = 0..T, via mg.teaching.hidden_grad_norms.

    The loss reads only the last hidden state, so what reaches h_t for t < T came back through time.
    """
    def loss(outputs: mg.Tensor) -> mg.Tensor:
        return mg.functional.mse_loss(model.head(outputs[-1])[:, 0], y)

    norms = mg.teaching.hidden_grad_norms(model.rnn, x.transpose(1, 0, 2), loss)
    model.zero_grad()  # the head's parameters got gradients too; training starts clean
    return norms


def evaluate(model: ManyToOne, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(mean squared error, fraction within TOLERANCE) on a test set."""
    with mg.no_grad():
        error = model(x).data[:, 0] - y
    return float(np.mean(error ** 2)), float(np.mean(np.abs(error) < TOLERANCE))


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[10, 50, 100])
    p.add_argument("--steps", type=int, default=2000, help="training batches of 64 per cell and length")
    p.add_argument("--hidden", type=int, default=32)
    args, rng = start(p)
    if args.quick:
        args.lengths, args.steps, args.hidden = [10, 30], 150, 16

    rows, curves, gradients = [], {}, {}
    for length in args.lengths:
        x_test, y_test = make_batch(1000, length, rng)
        guess = np.full_like(y_test, 1.0)
        rows.append((length, "constant 1", float(np.mean((guess - y_test) ** 2)),
                     float(np.mean(np.abs(guess - y_test) < TOLERANCE)), "-", 0.0))
        x_probe, y_probe = make_batch(64, length, rng)
        for cell in CELLS:
            started = time.perf_counter()
            mg.manual_seed(args.seed)  # every cell starts from the same seed
            model = ManyToOne(cell, 2, args.hidden, 1)
            longest = length == args.lengths[-1]
            if longest:
                gradients[cell, "at initialisation"] = hidden_gradient_norms(model, x_probe, y_probe)
            curves[cell, length] = train(model, length, args.steps, rng)
            if longest:
                gradients[cell, "after training"] = hidden_gradient_norms(model, x_probe, y_probe)
            rows.append((length, cell.upper(), *evaluate(model, x_test, y_test), left_plateau(curves[cell, length]),
                         time.perf_counter() - started))

    table = ["| T | model | test MSE | within 0.04 | left the plateau at step | train time |", "|---" * 6 + "|"]
    table += [f"| {t} | {name} | {mse:.4f} | {hit:.1%} | {left} | {secs:.0f} s |"
              for t, name, mse, hit, left, secs in rows]
    print("\n".join(table))
    (args.out / "adding_problem.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print(f"wrote {args.out / 'adding_problem.md'}")
    t_max = args.lengths[-1]
    for when, key in (("before", "at initialisation"), ("after", "after training")):
        for cell in CELLS:
            norms = gradients[cell, key]
            first = int(np.flatnonzero(norms)[0])
            print(f"|dL/dh_t| {cell.upper()} {when} training: {norms[-1]:.1e} at t={t_max}, "
                  f"{norms[-2]:.1e} at t={t_max - 1}, {norms[first]:.1e} at t={first}"
                  + (" (zero before it: the float32 gradient underflows)" if first else ""))

    plt = need("matplotlib.pyplot", "matplotlib")
    fig, axes = plt.subplots(1, len(args.lengths), figsize=(3.2 * len(args.lengths), 3), sharey=True, squeeze=False)
    for ax, length in zip(axes[0], args.lengths, strict=True):
        for cell in CELLS:
            ax.plot(curves[cell, length], label=cell.upper())
        ax.axhline(1 / 6, color="grey", linestyle=":", label="guess 1")
        ax.set(yscale="log", xlabel="step", title=f"T = {length}")
    axes[0][0].set(ylabel="training MSE (running mean)")
    axes[0][0].legend(fontsize=8)
    save_figure(fig, args.out, "adding_problem.png")

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), sharey=True)
    for ax, when in zip(axes, ("at initialisation", "after training"), strict=True):
        for cell in CELLS:
            norms = gradients[cell, when]
            ax.plot(range(len(norms)), norms, label=cell.upper())
        ax.set(yscale="log", xlabel="time step t", title=f"{when}, T = {args.lengths[-1]}")
    axes[0].set(ylabel="|dL/dh_t|")
    axes[0].legend(fontsize=8)
    save_figure(fig, args.out, "adding_problem_gradients.png")

    final = [r for r in rows if r[0] == t_max]
    worst_gated = max(r[2] for r in final if r[1] in ("LSTM", "GRU"))
    result(f"gated_test_mse_T{t_max}", worst_gated, final[0][2])


if __name__ == "__main__":
    main()
