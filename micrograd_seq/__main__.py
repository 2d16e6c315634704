"""python -m micrograd_seq demo: the tour.

1. an LSTM unrolled over 4 steps, drawn (one box per time step, weights drawn once);
2. a page that replays its backward pass node by node, last time step first;
3. BPTT derived by hand for the RNN, LSTM and GRU, shown equal to what backward() computes;
4. a small LSTM trained for a few seconds to continue a sentence.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

import micrograd_seq as mg
from micrograd_seq._cli import Parser, folder_problem


def draw_unrolled_lstm(out: Path) -> list[Path]:
    """Unroll an LSTM over 4 steps, draw it plain and coloured by gradient, and write the replay page."""
    mg.manual_seed(0)
    lstm, head = mg.nn.LSTM(input_size=3, hidden_size=4), mg.nn.Linear(4, 2)
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 1, 3)), name="x")
    output, _ = lstm(x)
    loss = mg.functional.cross_entropy(head(output[-1]), [1])
    written = [mg.viz.save(loss, path=out / "lstm_unrolled.svg"),
               mg.viz.save(loss, path=out / "lstm_collapsed.svg", collapse="t")]
    written.append(mg.viz.replay(loss, out / "lstm_backward_replay.html").path)  # runs backward, keeps the grads
    written.append(mg.viz.save(loss, path=out / "lstm_gradients.svg", grads=True))
    return written


def show_bptt_agrees() -> float:
    """Hand-derived BPTT against autodiff, float64, for each cell; returns the largest difference."""
    worst = 0.0
    for cell in ("rnn", "lstm", "gru"):
        diff = mg.teaching.compare(cell, T=6, B=3, D=4, H=5, K=3, seed=1)
        print(f"  {cell.upper():4s} hand-derived BPTT vs backward(): largest difference {diff:.1e}")
        worst = max(worst, diff)
    return worst


def train_small_lstm(seconds: float) -> tuple[float, float, str]:
    """Teach a character-level LSTM one sentence with truncated BPTT; returns first/last loss and a sample."""
    text = "the gradient flows back through time. "
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    mg.manual_seed(0)
    embed, lstm, head = mg.nn.Embedding(len(chars), 16), mg.nn.LSTM(16, 32), mg.nn.Linear(32, len(chars))
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    optimizer = mg.optim.Adam(params, lr=0.02)
    losses: list[float] = []
    start, steps = time.perf_counter(), 0
    while not losses or time.perf_counter() - start < seconds:  # at least one pass, however short the time
        state = None
        for begin in range(0, len(ids) - 1, 13):  # truncated BPTT over chunks of 13 characters
            chunk = ids[begin:begin + 14]
            output, state = lstm(embed(chunk[:-1])[:, None, :], state)
            loss = mg.functional.cross_entropy(head(output[:, 0]), chunk[1:])
            optimizer.zero_grad()
            loss.backward()
            mg.nn.utils.clip_grad_norm_(params, 5.0)
            optimizer.step()
            state = tuple(s.detach() for s in state)
            losses.append(loss.item())
        steps += 1
    with mg.no_grad():
        sample, state, current = "t", None, chars.index("t")
        for _ in range(len(text) - 1):
            output, state = lstm(embed([current])[:, None, :], state)
            current = int(head(output[0, 0]).data.argmax())
            sample += chars[current]
    print(f"  {steps} passes over the sentence in {time.perf_counter() - start:.1f}s")
    return losses[0], losses[-1], sample


def demo(out: Path, seconds: float) -> None:
    """Run the tour, writing its files under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    print("1. An LSTM unrolled over 4 time steps, drawn and replayed:")
    try:
        written = draw_unrolled_lstm(out)
    except mg.viz.GraphvizNotFoundError as err:
        print(f"  skipped the pictures: {err}")
        written = []
    for path in written:
        print(f"  wrote {path}")
    print("2. Backpropagation through time derived by hand, against the generic backward():")
    worst = show_bptt_agrees()
    print(f"  largest difference over all three cells: {worst:.1e} (float64 rounding)")
    print(f"3. A small LSTM learns a sentence for {seconds:g} seconds (truncated BPTT, Adam):")
    first, last, sample = train_small_lstm(seconds)
    print(f"  loss {first:.3f} -> {last:.3f}; it now says: {sample!r}")
    print("Files written:")
    for path in written:
        print(f"  {path}")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (0 < value < math.inf):
        raise argparse.ArgumentTypeError(f"expected a positive, finite number of seconds, got {text!r}")
    return value


def _check_out(parser: Parser, out: Path) -> None:
    """A folder that exists or can be made, and can be written."""
    if out.exists() and not out.is_dir():
        parser.error(f"--out: {str(out)!r} is a file; give a folder for the demo's files (a missing one is made)")
    problem = folder_problem(out)
    if problem:
        parser.error(f"--out: {problem}")


def main(argv: list[str] | None = None) -> int:
    """The demo's command line; a bad argument exits with status 2 and one line saying which and why."""
    parser = Parser(prog="python -m micrograd_seq", description=__doc__,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["demo"], help="what to run")
    parser.add_argument("--out", type=Path, default=Path("out/demo"),
                        help="folder for the files (default out/demo; a missing one is made)")
    parser.add_argument("--seconds", type=_seconds, default=5.0, help="how long to train (default 5)")
    args = parser.parse_args(argv)
    _check_out(parser, args.out)
    demo(args.out, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
