"""Time-series forecasting: a many-to-one GRU (or LSTM) reads a window of past values and predicts the next one.

Default series: yearly sunspot numbers 1700-2008 (statsmodels' bundled dataset). ``--series goog``:
daily Google closing prices 2004-2008 (bundled with matplotlib), modelled as daily log returns.
The last fifth of the series is held out. The network trains on the first 85 % of the rest and
keeps the epoch that forecasts the last 15 % best; five such networks, started differently, are
averaged. Baselines: persistence (the next value is the
last one) and a linear autoregression fitted by least squares on all the data before the held-out
part, its order (up to the window) chosen by AIC.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from _common import ManyToOne, Progress, minibatches, need, parser, result, save_figure, start

import micrograd_seq as mg


@dataclass
class Series:
    """A series to forecast: its levels, and the standardised sequence the models see.

    ``inputs[t]`` is what the models read and predict at index t; ``to_level(pred, t)`` turns a
    prediction of ``inputs[t]`` back into a forecast of ``levels[t]``.
    """

    title: str
    unit: str
    times: np.ndarray
    levels: np.ndarray
    inputs: np.ndarray
    first: int  # the first index where ``inputs`` is defined
    split: int  # the first held-out index
    to_level: Callable[[np.ndarray, np.ndarray], np.ndarray]


def standardise(x: np.ndarray, fit: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(x - mean) / std with the mean and std of ``fit`` (the training part only)."""
    mean, std = float(fit.mean()), float(fit.std())
    return (x - mean) / std, mean, std


def held_out_start(n: int) -> int:
    """The index where the held-out last fifth of a series of length ``n`` begins."""
    return int(0.8 * n)


def sunspots() -> Series:
    """Yearly mean sunspot numbers, modelled directly (standardised)."""
    datasets = need("statsmodels.datasets", "statsmodels")
    frame = datasets.sunspots.load_pandas().data
    levels = frame["SUNACTIVITY"].to_numpy(dtype=np.float64)
    split = held_out_start(len(levels))
    inputs, mean, std = standardise(levels, levels[:split])
    return Series("yearly sunspot number", "sunspots", frame["YEAR"].to_numpy(dtype=int), levels, inputs, 0,
                  split, lambda pred, t: pred * std + mean)


def goog() -> Series:
    """Daily Google closing prices, modelled as standardised log returns (a price level does not generalise)."""
    need("matplotlib", "matplotlib")
    from matplotlib.cbook import get_sample_data
    prices = get_sample_data("goog.npz")["price_data"]
    levels = prices["adj_close"].astype(np.float64)
    returns = np.concatenate([[0.0], np.diff(np.log(levels))])
    split = held_out_start(len(levels))
    inputs, mean, std = standardise(returns, returns[1:split])
    return Series("daily Google price", "USD", prices["date"], levels, inputs, 1,
                  split, lambda pred, t: levels[t - 1] * np.exp(pred * std + mean))


def windows(series: Series, targets: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` inputs before each target index, shape (len(targets), width)."""
    return np.stack([series.inputs[t - width:t] for t in targets])


def with_intercept(x: np.ndarray) -> np.ndarray:
    return np.hstack([x, np.ones((len(x), 1))])


def fit_autoregression(x: np.ndarray, y: np.ndarray) -> tuple[int, np.ndarray]:
    """A linear autoregression on the last p columns of ``x``, p chosen by AIC; returns (p, weights).

    Each order is fitted by least squares (weights, then the intercept) on the same targets.
    """
    best = None
    for order in range(1, x.shape[1] + 1):
        design = with_intercept(x[:, -order:])
        weights = np.linalg.lstsq(design, y, rcond=None)[0]
        aic = len(y) * np.log(np.mean((y - design @ weights) ** 2)) + 2 * (order + 1)
        if best is None or aic < best[0]:
            best = (aic, order, weights)
    return best[1], best[2]


def rmse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - truth) ** 2)))


def train_network(args, series: Series, train_t: np.ndarray, valid_t: np.ndarray, width: int, epochs: int,
                  rng: np.random.Generator) -> ManyToOne:
    """Fit the recurrent model on the training windows; keep the epoch with the lowest validation RMSE."""
    x_train, y_train = windows(series, train_t, width)[:, :, None], series.inputs[train_t]
    x_valid = windows(series, valid_t, width)[:, :, None]
    model = ManyToOne(args.cell, 1, args.hidden, 1)
    opt = mg.optim.Adam(model.parameters(), lr=3e-3)
    batch = 32
    best = (np.inf, None)
    with Progress(epochs * -(-len(train_t) // batch), args.cell.upper()) as bar:
        for _ in range(epochs):
            for idx in minibatches(len(train_t), batch, rng):
                loss = mg.functional.mse_loss(model(x_train[idx])[:, 0], y_train[idx])
                opt.zero_grad()
                loss.backward()
                mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                bar.step(loss.item())
            valid = rmse(forecast(model, series, x_valid, valid_t), series.levels[valid_t])
            if valid < best[0]:
                best = (valid, model.state_dict())
    model.load_state_dict(best[1])
    return model


def forecast(model: ManyToOne, series: Series, x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The model's one-step forecasts of ``levels[targets]`` from windows ``x`` (N, width, 1)."""
    with mg.no_grad():
        return series.to_level(model(x).data[:, 0].astype(np.float64), targets)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--series", choices=("sunspots", "goog"), default="sunspots")
    p.add_argument("--cell", choices=("gru", "lstm"), default="gru")
    p.add_argument("--window", type=int, default=None,
                   help="past values read per forecast (default 12 years, one solar cycle; 20 trading days)")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--ensemble", type=int, default=5, help="networks trained from different starts, forecasts averaged")
    args, rng = start(p)
    epochs, members = (15, 1) if args.quick else (args.epochs, args.ensemble)
    series = {"sunspots": sunspots, "goog": goog}[args.series]()
    width = args.window or {"sunspots": 12, "goog": 20}[args.series]
    split = series.split
    fit_t = np.arange(series.first + width, split)
    valid_start = split - len(fit_t) * 15 // 100
    test_t = np.arange(split, len(series.levels))
    x_test, truth = windows(series, test_t, width), series.levels[test_t]
    print(f"{series.title}: {len(fit_t)} windows of {width} before {series.times[split]} (the network trains on "
          f"the first 85 %, stops early on the rest), {len(test_t)} held-out forecasts")

    persistence = series.levels[test_t - 1]
    order, weights = fit_autoregression(windows(series, fit_t, width), series.inputs[fit_t])
    linear = series.to_level(with_intercept(x_test[:, -order:]) @ weights, test_t)
    train_t, valid_t = fit_t[fit_t < valid_start], fit_t[fit_t >= valid_start]
    network = np.mean([forecast(train_network(args, series, train_t, valid_t, width, epochs, rng), series,
                                x_test[:, :, None], test_t) for _ in range(members)], axis=0)
    name = args.cell.upper() + (f" (mean of {members})" if members > 1 else "")

    scores = {"persistence": rmse(persistence, truth), f"linear AR({order})": rmse(linear, truth),
              name: rmse(network, truth)}
    for label, score in scores.items():
        print(f"held-out RMSE {label:>20}: {score:.3f} {series.unit}")
    best_baseline = min(scores["persistence"], scores[f"linear AR({order})"])
    verdict = "beats" if scores[name] < best_baseline else "does not beat"
    print(f"the {name} {verdict} the better baseline")

    plt = need("matplotlib.pyplot", "matplotlib")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    times = series.times[test_t]
    top.plot(times, truth, color="black", linewidth=2, label="actual")
    # below: each forecast's change from the last value against the actual change (persistence: none)
    for (label, score), predicted in zip(scores.items(), (persistence, linear, network), strict=True):
        top.plot(times, predicted, label=f"{label} (RMSE {score:.2f})")
        bottom.plot(times, predicted - persistence, linewidth=1)
    top.set(ylabel=series.unit, title=f"one-step-ahead forecasts of the {series.title} (held out)")
    top.legend(fontsize=8)
    bottom.plot(times, truth - persistence, color="black", linewidth=0.8, zorder=0)
    bottom.set(ylabel="change from\nlast value")
    save_figure(fig, args.out, f"forecast_{args.series}.png")
    result(f"test_rmse_{args.cell}", scores[name], best_baseline)


if __name__ == "__main__":
    main()
