"""Dates as people write them, translated to ISO dates by a GRU encoder-decoder with additive attention.

"3 May 1998", "Sunday, March 8, 2009", "08.03.09" and "the 8th of March 2009" become "1998-05-03"
and "2009-03-08". The data is made here with Python's datetime: dates from 1950 to 2049 in twelve
formats (FORMATS). A two-digit year is 19yy from 50 on and 20yy below; slashes are American
(month first), dots European (day first). 2,000 calendar dates are held out for the test and 1,000
for validation, so a test date was never seen in training, in any format.

Encoder: the characters, embedded, read by a bidirectional GRU as a packed batch. The inputs have
different lengths, so no step reads padding, and each direction ends on its own sequence's last
character. Decoder: a GRUCell that writes the ten output characters one at a time. Before each
one, additive (Bahdanau) attention scores every encoder output k against the decoder state q,
v^T tanh(W_q q + W_k k). A softmax over the real characters only (padding is set to -inf first,
so it gets exactly zero weight) gives the weights of the context vector fed to the cell. Trained
with teacher forcing and cross-entropy, decoded greedily.
"""
from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _common import Progress, minibatches, need, parser, result, save_figure, start

import micrograd_seq as mg

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
OUTPUT = "0123456789-"  # the output characters; every output is ten of them, YYYY-MM-DD
START = len(OUTPUT)     # the decoder's first input, before it has written anything
PAD = 0                 # input id 0 is padding; characters are 1, 2, ...
N_TEST, N_VALID = 2000, 1000
BRIEF = ["3 May 1998", "Sunday, March 8, 2009", "08.03.09", "the 8th of March 2009"]  # translated at the end


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, ..."""
    return f"{n}{'th' if 11 <= n % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def month(d: datetime.date) -> str:
    return MONTHS[d.month - 1]


def weekday(d: datetime.date) -> str:
    return WEEKDAYS[d.weekday()]


FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "8 March 2009": lambda d: f"{d.day} {month(d)} {d.year}",
    "Sunday, March 8, 2009": lambda d: f"{weekday(d)}, {month(d)} {d.day}, {d.year}",
    "08.03.09": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year % 100:02d}",
    "the 8th of March 2009": lambda d: f"the {ordinal(d.day)} of {month(d)} {d.year}",
    "March 8, 2009": lambda d: f"{month(d)} {d.day}, {d.year}",
    "8 Mar 2009": lambda d: f"{d.day} {month(d)[:3]} {d.year}",
    "Sun 8 Mar 2009": lambda d: f"{weekday(d)[:3]} {d.day} {month(d)[:3]} {d.year}",
    "03/08/2009": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "8.3.2009": lambda d: f"{d.day}.{d.month}.{d.year}",
    "Mar 8th, '09": lambda d: f"{month(d)[:3]} {ordinal(d.day)}, '{d.year % 100:02d}",
    "MARCH 8, 2009": lambda d: f"{month(d).upper()} {d.day}, {d.year}",
    "sunday 8 march 2009": lambda d: f"{weekday(d).lower()} {d.day} {month(d).lower()} {d.year}",
}


def make(dates: list[datetime.date], rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Each date written in a format drawn at random: the texts and the formats' indices."""
    kinds = rng.integers(len(FORMATS), size=len(dates))
    writers = list(FORMATS.values())
    return [writers[k](d) for k, d in zip(kinds, dates, strict=True)], kinds.tolist()


def alphabet() -> list[str]:
    """Every character a format can write: digits, and each format applied to every weekday and month."""
    week = [datetime.date(2000, 1, d) for d in range(3, 10)]  # Monday 3 January 2000 to Sunday the 9th
    dates = week + [datetime.date(2000, m, 1) for m in range(1, 13)]
    return sorted(set("0123456789").union(*(write(d) for d in dates for write in FORMATS.values())))


def encode(texts: list[str], index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Character ids padded with PAD to (N, longest), and each text's length."""
    lengths = np.array([len(t) for t in texts])
    ids = np.full((len(texts), lengths.max()), PAD)
    for row, t in zip(ids, texts, strict=True):
        row[:len(t)] = [index[c] for c in t]
    return ids, lengths


def copy_digits(text: str) -> str:
    """The baseline: a rule that copies the numbers written and knows no words.

    The four-digit number is the year (else the last number, a two-digit year); the other
    numbers are the day and then the month, in the order written; a month it cannot find is 01.
    """
    numbers = re.findall(r"\d+", text)
    years = [n for n in numbers if len(n) == 4]
    year = years[0] if years else numbers[-1]
    numbers.remove(year)
    if len(year) == 2:
        year = f"{19 if int(year) >= 50 else 20}{year}"
    day, mon = (numbers + ["1", "1"])[:2]
    return f"{year}-{int(mon):02d}-{int(day):02d}"


class Translator(mg.nn.Module):
    """Bidirectional GRU encoder over characters; GRUCell decoder with additive attention over its outputs."""

    def __init__(self, vocab: int, embed: int, hidden: int, attention: int) -> None:
        super().__init__()
        memory = 2 * hidden  # an encoder output: the forward and the reverse direction's state
        self.embedding = mg.nn.Embedding(vocab, embed)
        self.encoder = mg.nn.GRU(embed, hidden, batch_first=True, bidirectional=True)
        self.bridge = mg.nn.Linear(memory, hidden)  # the decoder's first state, from the encoder's last ones
        self.w_k = mg.nn.Linear(memory, attention, bias=False)
        self.w_q = mg.nn.Linear(hidden, attention)
        self.v = mg.nn.Linear(attention, 1, bias=False)
        self.out_embedding = mg.nn.Embedding(len(OUTPUT) + 1, embed)
        self.decoder = mg.nn.GRUCell(embed + memory, hidden)
        self.head = mg.nn.Linear(hidden + memory, len(OUTPUT))

    def encode(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[mg.Tensor, mg.Tensor, mg.Tensor]:
        """Encoder outputs (B, T, 2H), their keys W_k k (B, T, A), and the decoder's first state (B, H)."""
        rnn = mg.nn.utils.rnn
        packed = rnn.pack_padded_sequence(self.embedding(ids), lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)
        memory, _ = rnn.pad_packed_sequence(out, batch_first=True)
        state = self.bridge(mg.cat([h_n[0], h_n[1]], dim=-1)).tanh()
        return memory, self.w_k(memory), state

    def attend(self, state: mg.Tensor, memory: mg.Tensor, keys: mg.Tensor,
               valid: np.ndarray) -> tuple[mg.Tensor, mg.Tensor]:
        """Additive attention: the context (B, 2H) and the weights (B, T), zero on padding."""
        with mg.name_scope("attention"):
            scores = self.v((keys + self.w_q(state).unsqueeze(1)).tanh()).squeeze(-1).named("scores")
            weights = scores.masked_fill(~valid, -np.inf).softmax(dim=-1).named("weights")
            context = (weights.unsqueeze(1) @ memory).squeeze(1).named("context")
        return context, weights

    def step(self, previous: mg.Tensor, state: mg.Tensor, memory: mg.Tensor, keys: mg.Tensor,
             valid: np.ndarray) -> tuple[mg.Tensor, mg.Tensor, mg.Tensor]:
        """One output character: its logits (B, 11), the new state and the attention weights."""
        context, weights = self.attend(state, memory, keys, valid)
        state = self.decoder(mg.cat([previous, context], dim=-1), state).named("state")
        return self.head(mg.cat([state, context], dim=-1)).named("logits"), state, weights

    def forward(self, ids: np.ndarray, lengths: np.ndarray, targets: np.ndarray) -> mg.Tensor:
        """Teacher forcing: the logits (B, 10, 11) of every output character, each given the true ones before it."""
        memory, keys, state = self.encode(ids, lengths)
        valid = np.arange(ids.shape[1]) < lengths[:, None]
        previous = self.out_embedding(np.concatenate([np.full((len(ids), 1), START), targets[:, :-1]], axis=1))
        logits = []
        for t in range(targets.shape[1]):
            with mg.name_scope(f"t={t}"):
                out, state, _ = self.step(previous[:, t], state, memory, keys, valid)
            logits.append(out)
        return mg.stack(logits, dim=1)

    def translate(self, ids: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Greedy decoding: the output ids (B, 10) and the attention weights (B, 10, T)."""
        with mg.no_grad():
            memory, keys, state = self.encode(ids, lengths)
            valid = np.arange(ids.shape[1]) < lengths[:, None]
            previous, written, weights = np.full(len(ids), START), [], []
            for _ in range(10):
                logits, state, w = self.step(self.out_embedding(previous), state, memory, keys, valid)
                previous = logits.data.argmax(axis=1)
                written.append(previous)
                weights.append(w.data)
        return np.stack(written, axis=1), np.stack(weights, axis=1)


def translate(model: Translator, texts: list[str], index: dict[str, int]) -> tuple[list[str], list[np.ndarray]]:
    """The model's ISO dates for ``texts`` (in batches of 250), and each one's attention (10, its length)."""
    out, attention = [], []
    for i in range(0, len(texts), 250):
        ids, lengths = encode(texts[i:i + 250], index)
        written, weights = model.translate(ids, lengths)
        out += ["".join(OUTPUT[k] for k in row) for row in written]
        attention += [w[:, :n] for w, n in zip(weights, lengths, strict=True)]
    return out, attention


def exact(predicted: list[str], truth: list[str]) -> float:
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def plot_attention(examples: list[tuple[str, str, np.ndarray]], out: Path) -> None:
    """Heatmaps of which input characters each output character looked at."""
    plt = need("matplotlib.pyplot", "matplotlib")
    fig, axes = plt.subplots(len(examples), 1, figsize=(7, 2.1 * len(examples)))
    for ax, (text, written, weights) in zip(axes, examples, strict=True):
        ax.imshow(weights, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(len(text)), list(text))
        ax.set_yticks(range(len(written)), list(written))
        ax.tick_params(length=0, labelsize=8)
        ax.set_title(f"{text!r} -> {written}", fontsize=9)
    save_figure(fig, out, "translate_dates_attention.png")


def draw_step(model: Translator, text: str, truth: str, index: dict[str, int], t: int, out: Path) -> None:
    """The graph of decoding step ``t`` for one input, given the encoder's outputs, coloured by gradient."""
    ids, lengths = encode([text], index)
    chars = np.array([[START] + [OUTPUT.index(c) for c in truth]])  # the decoder's inputs, then the targets
    valid = np.ones((1, len(text)), dtype=bool)
    with mg.no_grad():  # the encoder, and the decoder's steps before t given the true characters
        memory, keys, state = model.encode(ids, lengths)
        for k in range(t):
            _, state, _ = model.step(model.out_embedding(chars[:, k]), state, memory, keys, valid)
    memory, keys = mg.tensor(memory.data, name="encoder outputs"), mg.tensor(keys.data, name="keys W_k k")
    with mg.name_scope(f"t={t}"):
        logits, _, _ = model.step(model.out_embedding(chars[:, t]), mg.tensor(state.data, name="state before"),
                                  memory, keys, valid)
    loss = mg.functional.cross_entropy(logits, chars[:, t + 1]).named("loss")
    loss.backward(retain_all_grads=True)
    print(f"wrote {mg.viz.save(loss, path=out / 'translate_dates_step.png', grads=True, rankdir='TB')}")
    model.zero_grad()


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--hidden", type=int, default=64, help="GRU state size (the encoder's, each direction)")
    p.add_argument("--embed", type=int, default=24)
    p.add_argument("--attention", type=int, default=48, help="size of the attention's hidden layer")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    args, rng = start(p)
    if args.quick:
        args.epochs, args.hidden, args.embed, args.attention, args.batch, args.lr = 2, 32, 16, 16, 32, 1e-2

    days = [FIRST + datetime.timedelta(days=int(k)) for k in rng.permutation((LAST - FIRST).days + 1)]
    test_dates, valid_dates, train_dates = days[:N_TEST], days[N_TEST:N_TEST + N_VALID], days[N_TEST + N_VALID:]
    if args.quick:
        train_dates = train_dates[:2000]
    test_texts, test_kinds = make(test_dates, rng)
    valid_texts, _ = make(valid_dates, rng)
    test_iso, valid_iso = [d.isoformat() for d in test_dates], [d.isoformat() for d in valid_dates]
    chars = alphabet()
    index = {c: i + 1 for i, c in enumerate(chars)}
    targets = np.array([[OUTPUT.index(c) for c in d.isoformat()] for d in train_dates])
    baseline = exact([copy_digits(t) for t in test_texts], test_iso)
    print(f"{len(days):,} dates from {FIRST} to {LAST} in {len(FORMATS)} formats, {len(chars)} distinct characters; "
          f"{len(train_dates):,} for training (a fresh format each epoch), {len(valid_dates):,} for validation, "
          f"{len(test_dates):,} held out for the test")
    lengths = [len(write(d)) for d in days for write in FORMATS.values()]
    print(f"inputs {min(lengths)} to {max(lengths)} characters long, outputs always 10")
    for text in test_texts[:4]:
        print(f"  {text!r} -> {copy_digits(text)} by copying digits")

    model = Translator(len(chars) + 1, args.embed, args.hidden, args.attention)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    per_epoch = -(-len(train_dates) // args.batch)
    steps = args.epochs * per_epoch
    step = 0
    with Progress(steps, "seq2seq GRU") as bar:
        for epoch in range(1, args.epochs + 1):
            texts, _ = make(train_dates, rng)
            losses = []
            for rows in minibatches(len(texts), args.batch, rng):
                ids, lengths = encode([texts[i] for i in rows], index)
                logits = model(ids, lengths, targets[rows])
                loss = mg.functional.cross_entropy(logits.reshape(-1, len(OUTPUT)), targets[rows].reshape(-1))
                opt.zero_grad()
                loss.backward()
                mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                for group in opt.param_groups:  # linear decay to a tenth
                    group["lr"] = args.lr * (1.0 - 0.9 * step / steps)
                opt.step()
                step += 1
                losses.append(loss.item())
                bar.step(losses[-1])
            accuracy = exact(translate(model, valid_texts, index)[0], valid_iso)
            bar.write(f"epoch {epoch}: training loss {np.mean(losses):.4f}, validation exact match {accuracy:.2%}")

    predicted, attention = translate(model, test_texts, index)
    accuracy = exact(predicted, test_iso)
    print(f"test: {accuracy:.2%} exact match on {len(test_texts):,} held-out dates; copying digits {baseline:.2%}")
    kinds = np.array(test_kinds)
    for k, name in enumerate(FORMATS):
        rows = np.flatnonzero(kinds == k)
        model_k = exact([predicted[i] for i in rows], [test_iso[i] for i in rows])
        rule_k = exact([copy_digits(test_texts[i]) for i in rows], [test_iso[i] for i in rows])
        print(f"  {name:22} {len(rows):4d} dates: model {model_k:7.2%}, copying digits {rule_k:7.2%}")
    wrong = [i for i in range(len(test_texts)) if predicted[i] != test_iso[i]]
    print(f"{len(wrong)} of {len(test_texts):,} held-out dates wrong" + (", the first ten:" if len(wrong) > 10 else ""))
    for i in wrong[:10]:
        print(f"  wrong: {test_texts[i]!r} -> {predicted[i]} (truth {test_iso[i]})")
    for text, iso in zip(BRIEF, translate(model, BRIEF, index)[0], strict=True):
        print(f"  model: {text!r} -> {iso}")

    shown = [next(i for i in range(len(test_texts)) if test_kinds[i] == k) for k in (1, 3, 2, 7)]
    plot_attention([(test_texts[i], predicted[i], attention[i]) for i in shown], args.out)
    draw_step(model, test_texts[shown[0]], test_iso[shown[0]], index, 6, args.out)
    result("test_exact_match", accuracy, baseline)


if __name__ == "__main__":
    main()
