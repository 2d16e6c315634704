"""The classic first RNN: learn to continue "hell" with "ello", one character at a time.

Vocabulary h, e, l, o. The input is "hell" one-hot, the target at each step the next
character. An "l" is followed once by "l" and once by "o", so the RNN must remember what came
before. It prints its predictions as it learns and draws the 4-step unrolled graph of the
first training step, coloured by gradient (backpropagation through time).
"""
from __future__ import annotations

import numpy as np
from _common import Progress, parser, result, start

import micrograd_seq as mg

CHARS = "helo"
WORD = "hello"


class CharRNN(mg.nn.Module):
    """An RNN over one-hot characters and a linear read-out of the next character."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.rnn = mg.nn.RNN(len(CHARS), hidden)
        self.head = mg.nn.Linear(hidden, len(CHARS))

    def forward(self, x: np.ndarray) -> mg.Tensor:
        out, _ = self.rnn(x)
        return self.head(out)


def main() -> None:
    p = parser(__doc__.splitlines()[0] + " (--quick is the same: it takes a second)")
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--hidden", type=int, default=8)
    args, _ = start(p)
    ids = [CHARS.index(c) for c in WORD]
    x = np.eye(len(CHARS), dtype=np.float32)[ids[:-1]]  # "hell", one-hot, shape (4 steps, 4)
    targets = np.array(ids[1:])  # "ello"

    model = CharRNN(args.hidden)
    opt = mg.optim.Adam(model.parameters(), lr=0.05)
    norms = mg.teaching.hidden_grad_norms(model.rnn, x,
                                          lambda out: mg.functional.cross_entropy(model.head(out), targets))
    model.zero_grad()  # the read-out got gradients too; training starts clean
    print("gradient norm of each hidden state before training: "
          + ", ".join(f"{norm:.1e} (t={t})" for t, norm in enumerate(norms[1:])))  # norms[0]: the zero start state
    with Progress(args.steps, "hello RNN") as bar:
        for step in range(1, args.steps + 1):
            logits = model(x)
            loss = mg.functional.cross_entropy(logits, targets)
            opt.zero_grad()
            if step == 1:
                loss.backward(retain_all_grads=True)  # keep every node's gradient for the drawing
                path = mg.viz.save(loss, args.out / "hello_unrolled.png", grads=True)
                bar.write(f"wrote {path}")
            else:
                loss.backward()
            opt.step()
            bar.step(loss.item())
            if step % 5 == 0 or step == 1:
                guess = "".join(CHARS[i] for i in logits.data.argmax(axis=1))
                bar.write(f"step {step:3d}  loss {loss.item():.4f}  h,e,l,l -> {guess}")

    with mg.no_grad():
        predicted = model(x).data.argmax(axis=1)
    accuracy = float((predicted == targets).mean())
    print(f"final: {WORD[:-1]!r} -> {''.join(CHARS[i] for i in predicted)!r} ({accuracy:.0%} correct)")
    majority = np.bincount(targets).max() / len(targets)  # always guessing 'l'
    result("accuracy", accuracy, majority)


if __name__ == "__main__":
    main()
