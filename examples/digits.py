"""Sequence classification: scikit-learn's 8x8 digits read row by row (8 steps of 8 pixels) by an RNN, LSTM and GRU.

Each cell reads the image one row per time step and classifies it from its last hidden state.
The three run side by side with the same hidden size, optimiser and number of epochs.
"""
from __future__ import annotations

import time

import numpy as np
from _common import ManyToOne, Progress, minibatches, need, parser, result, save_figure, start

import micrograd_seq as mg


def load(rng: np.random.Generator, test_fraction: float = 0.25) -> tuple[np.ndarray, ...]:
    """The 1797 digits as (N, 8 rows, 8 pixels) in [0, 1], split into train and test (stratified)."""
    datasets = need("sklearn.datasets", "scikit-learn")
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[:round(test_fraction * len(members))]] = True
    return x[~test], y[~test], x[test], y[test]


def accuracy(model: ManyToOne, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` classified correctly."""
    with mg.no_grad():
        return float((model(x).data.argmax(axis=1) == y).mean())


def train(cell: str, data: tuple[np.ndarray, ...], epochs: int, hidden: int, rng: np.random.Generator) -> tuple:
    """Train one cell; returns the model and its per-epoch test accuracies."""
    x_train, y_train, x_test, y_test = data
    model = ManyToOne(cell, 8, hidden, 10)
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    batch = 64
    steps_per_epoch = -(-len(y_train) // batch)
    history = []
    with Progress(epochs * steps_per_epoch, f"{cell.upper():>4}") as bar:
        for _ in range(epochs):
            for idx in minibatches(len(y_train), batch, rng):
                loss = mg.functional.cross_entropy(model(x_train[idx]), y_train[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                bar.step(loss.item())
            history.append(accuracy(model, x_test, y_test))
    return model, history


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=int, default=64)
    args, rng = start(p)
    epochs = 4 if args.quick else args.epochs
    data = load(rng)
    x_test, y_test = data[2], data[3]
    majority = np.bincount(data[1]).argmax()
    baseline = float((y_test == majority).mean())
    print(f"{len(data[1])} training and {len(y_test)} test digits; {epochs} epochs, hidden size {args.hidden}")

    plt = need("matplotlib.pyplot", "matplotlib")
    fig, (curves, examples) = plt.subplots(1, 2, figsize=(9, 3.5), gridspec_kw={"width_ratios": [3, 2]})
    scores = {}
    for cell in ("rnn", "lstm", "gru"):
        started = time.perf_counter()
        model, history = train(cell, data, epochs, args.hidden, rng)
        scores[cell] = history[-1]
        print(f"{cell.upper():>4}: test accuracy {history[-1]:.2%} ({time.perf_counter() - started:.0f} s)")
        curves.plot(range(1, epochs + 1), history, marker=".", label=cell.upper())
    curves.axhline(0.95, color="grey", linestyle=":", label="95 %")
    curves.set(xlabel="epoch", ylabel="test accuracy", title="digits read row by row", ylim=(0.5, 1.0))
    curves.legend()
    with mg.no_grad():
        predicted = model(x_test[:8]).data.argmax(axis=1)
    examples.imshow(np.hstack(list(x_test[:8])), cmap="gray_r")
    examples.set_title(f"true: {' '.join(map(str, y_test[:8]))}\nGRU:  {' '.join(map(str, predicted))}",
                       family="monospace")
    examples.axis("off")
    save_figure(fig, args.out, "digits.png")
    result("gated_test_accuracy", min(scores["lstm"], scores["gru"]), baseline)


if __name__ == "__main__":
    main()
