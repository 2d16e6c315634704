"""A character-level LSTM language model (char-rnn style) trained with truncated BPTT, then sampled.

The training text is cut into ``batch`` parallel streams. Each step reads the next ``bptt``
characters of every stream, predicting each next character; the LSTM state is carried on to
the next chunk but detached, so gradients flow back at most ``bptt`` steps (truncated BPTT).
Default text: Python's own help topics (``pydoc_data.topics``, part of every CPython).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
from _common import Progress, need, parser, result, save_figure, start

import micrograd_seq as mg

LOG2E = 1.0 / math.log(2.0)


def load_text(path: Path | None) -> str:
    """The --text file, or all of Python's help topics joined in a fixed order."""
    if path is not None:
        return path.read_text(encoding="utf-8")
    from pydoc_data.topics import topics
    return "\n\n".join(topics[key] for key in sorted(topics))


class CharLM(mg.nn.Module):
    """Embedding -> LSTM -> Linear over the vocabulary, one prediction per input character."""

    def __init__(self, vocab: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.embedding = mg.nn.Embedding(vocab, embed)
        self.lstm = mg.nn.LSTM(embed, hidden, batch_first=True)
        self.head = mg.nn.Linear(hidden, vocab)

    def forward(self, ids: np.ndarray, state: tuple | None = None) -> tuple[mg.Tensor, tuple]:
        out, state = self.lstm(self.embedding(ids), state)
        return self.head(out), state


def streams(ids: np.ndarray, rows: int) -> np.ndarray:
    """Cut a long id sequence into ``rows`` equal parallel streams (rows, length)."""
    length = len(ids) // rows
    return ids[:rows * length].reshape(rows, length)


def bits_per_char(model: CharLM, ids: np.ndarray, rows: int, bptt: int) -> float:
    """Mean negative log2-likelihood of ``ids`` under the model, read in ``rows`` streams with carried state."""
    data = streams(ids, rows)
    total, count, state = 0.0, 0, None
    with mg.no_grad():
        for p in range(0, data.shape[1] - 1, bptt):
            x, y = data[:, p:p + bptt], data[:, p + 1:p + bptt + 1]
            x = x[:, :y.shape[1]]
            logits, state = model(x, state)
            loss = mg.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
            total, count = total + loss.item(), count + y.size
    return total / count * LOG2E


def unigram_bits(train: np.ndarray, valid: np.ndarray, vocab: int) -> float:
    """Bits per character of the validation text under the training text's character frequencies."""
    counts = np.bincount(train, minlength=vocab) + 1.0  # add-one, so an unseen character is not infinitely bad
    log_p = np.log2(counts / counts.sum())
    return float(-log_p[valid].mean())


def sample(model: CharLM, chars: str, prime: str, length: int, temperature: float, rng: np.random.Generator) -> str:
    """Continue ``prime`` by ``length`` characters, drawing each from softmax(logits / temperature)."""
    index = {c: i for i, c in enumerate(chars)}
    ids = [index[c] for c in prime]
    with mg.no_grad():
        logits, state = model(np.array([ids]))
        out = []
        for _ in range(length):
            z = logits.data[0, -1].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            out.append(chars[nxt])
            logits, state = model(np.array([[nxt]]), state)
    return prime + "".join(out)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--text", type=Path, default=None, help="train on this UTF-8 file instead of the help topics")
    p.add_argument("--steps", type=int, default=2000, help="training steps (chunks of every stream)")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--batch", type=int, default=32, help="parallel streams through the text")
    p.add_argument("--bptt", type=int, default=64, help="characters per chunk: how far back gradients flow")
    p.add_argument("--lr", type=float, default=3e-3)
    args, rng = start(p)
    if args.quick:
        args.steps, args.hidden, args.embed, args.batch, args.bptt = 300, 64, 32, 16, 32

    if args.text is not None and not args.text.is_file():
        p.error(f"--text: no such file: {args.text}")
    text = load_text(args.text)
    shortest = 10 * args.batch * (args.bptt + 1)  # a tenth for validation, and every stream a chunk long
    if len(text) < shortest:
        p.error(f"the text has {len(text):,} characters; with --batch {args.batch} and --bptt {args.bptt} "
                f"it needs at least {shortest:,}")
    chars = "".join(sorted(set(text)))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.array([index[c] for c in text])
    split = int(0.9 * len(ids))
    train_ids, valid_ids = ids[:split], ids[split:]
    if args.quick:
        valid_ids = valid_ids[:8000]
    baseline = unigram_bits(train_ids, valid_ids, len(chars))
    print(f"{len(text):,} characters, {len(chars)} distinct; {len(train_ids):,} for training, "
          f"{len(valid_ids):,} for validation; unigram baseline {baseline:.3f} bits/char")

    model = CharLM(len(chars), args.embed, args.hidden)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    data = streams(train_ids, args.batch)
    chunks_per_pass = (data.shape[1] - 1) // args.bptt
    evals = sorted({round(args.steps * k / 6) for k in range(1, 7)})
    curve, valid_curve, state, started = [], [], None, time.perf_counter()
    with Progress(args.steps, "char LSTM") as bar:
        for step in range(1, args.steps + 1):
            chunk = (step - 1) % chunks_per_pass
            if chunk == 0:
                state = None  # a new pass through the text starts from a zero state
            p0 = chunk * args.bptt
            x, y = data[:, p0:p0 + args.bptt], data[:, p0 + 1:p0 + args.bptt + 1]
            logits, state = model(x, state)
            state = tuple(s.detach() for s in state)  # truncated BPTT: carry the state, cut the gradient
            loss = mg.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            mg.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            for group in opt.param_groups:  # linear decay to a tenth
                group["lr"] = args.lr * (1.0 - 0.9 * step / args.steps)
            opt.step()
            bar.step(loss.item() * LOG2E)
            curve.append(bar.loss)
            if step in evals:
                valid_curve.append((step, bits_per_char(model, valid_ids, 32, 128)))
                bar.write(f"step {step}: validation {valid_curve[-1][1]:.3f} bits/char")
    bpc = valid_curve[-1][1]
    print(f"trained {args.steps} steps ({args.steps * args.batch * args.bptt:,} characters read, "
          f"{args.steps / chunks_per_pass:.1f} passes) in {time.perf_counter() - started:.0f} s")
    print(f"validation {bpc:.3f} bits/char vs unigram {baseline:.3f} bits/char")

    samples = []
    for temperature in (0.5, 0.8, 1.0):
        text_out = sample(model, chars, text[:4], 200 if args.quick else 400, temperature, rng)
        samples.append(f"--- temperature {temperature} ---\n{text_out}\n")
        print(samples[-1])
    (args.out / "char_lm_samples.txt").write_text("\n".join(samples), encoding="utf-8")

    plt = need("matplotlib.pyplot", "matplotlib")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(1, args.steps + 1), curve, label="training (running mean)")
    ax.plot(*zip(*valid_curve, strict=True), marker="o", label="validation")
    ax.axhline(baseline, color="grey", linestyle=":", label=f"unigram {baseline:.2f}")
    ax.set(xlabel="step", ylabel="bits per character", title="character-level LSTM language model")
    ax.legend()
    save_figure(fig, args.out, "char_lm.png")
    result("valid_bits_per_char", bpc, baseline)


if __name__ == "__main__":
    main()
