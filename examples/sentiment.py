"""Tweet sentiment: Embedding + LSTM (or GRU), many-to-one, on 4,200 tweets rated by humans (VADER's ground truth).

Data: ``tweets_GroundTruth.txt`` from the archive of the VADER paper (Hutto and Gilbert, ICWSM 2014)
that ships inside the ``vaderSentiment==3.3.2`` source distribution (MIT licence). pip fetches
that sdist once into a cache folder. Each line is: id, mean rating of about 10 people on a -4..4
scale, text. A tweet is positive when its mean rating is at least +THRESHOLD, negative at most
-THRESHOLD; the near-neutral ones in between are dropped.

A batch of tweets is padded at the end with PAD (an Embedding row that stays zero, ``padding_idx``)
and packed (``mg.nn.utils.rnn.pack_padded_sequence``), so the LSTM stops at each tweet's own last
token and never reads the padding; the linear layer reads its final hidden state.

Training stops once validation accuracy has not improved for ``--patience`` epochs, and the epoch
with the best validation accuracy is kept.
"""
from __future__ import annotations

import html
import io
import os
import re
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
from _common import ManyToOne, Progress, minibatches, missing, need, parser, result, save_figure, start

import micrograd_seq as mg

SDIST = "vaderSentiment==3.3.2"
DATA_FILE = "tweets_GroundTruth.txt"
THRESHOLD = 0.5
PAD, UNKNOWN = 0, 1
TOKEN = re.compile(r"[a-z0-9']+|[^\sa-z0-9']")


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "micrograd_seq"


def fetch_sdist(cache: Path) -> Path:
    """The vaderSentiment sdist in ``cache``, downloaded with pip on first use."""
    name, version = SDIST.split("==")
    archive = cache / f"{name}-{version}.tar.gz"
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"fetching the {SDIST} source distribution into {cache} with pip (once)")
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                   SDIST, "--dest", str(cache)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not archive.exists():
            missing(f"pip could not download {SDIST} (offline?); when online, run: "
                    f"{sys.executable} -m pip download --no-deps --no-binary :all: {SDIST} --dest {cache}")
    return archive


def read_ground_truth(archive: Path) -> bytes:
    """The bytes of tweets_GroundTruth.txt, from the paper's tar.gz bundled inside the sdist."""
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            if not member.name.endswith(".tar.gz"):
                continue
            with tarfile.open(fileobj=io.BytesIO(sdist.extractfile(member).read())) as bundle:
                for inner in bundle.getmembers():
                    if inner.name.endswith("/" + DATA_FILE):
                        return bundle.extractfile(inner).read()
    missing(f"{archive} holds no archive with {DATA_FILE}; delete it and run again")


def tokenize(text: str) -> list[str]:
    """Lower-cased words, numbers and single punctuation marks (so ':)' is ':' then ')')."""
    return TOKEN.findall(html.unescape(text).lower())


def load(cache: Path) -> tuple[list[list[str]], np.ndarray, int]:
    """Tokenised tweets and labels (1 positive, 0 negative) of the non-neutral ones; also the total count."""
    lines = read_ground_truth(fetch_sdist(cache)).decode("utf-8").splitlines()
    tweets, labels = [], []
    for line in lines:
        _, rating, text = line.split("\t", 2)
        if abs(float(rating)) >= THRESHOLD:
            tweets.append(tokenize(text))
            labels.append(int(float(rating) > 0))
    return tweets, np.array(labels), len(lines)


def encode(tweets: list[list[str]], vocab: dict[str, int], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids padded with PAD to (N, longest), and each tweet's length (at least 1)."""
    ids = [[vocab.get(w, UNKNOWN) for w in t[:max_len]] or [UNKNOWN] for t in tweets]
    lengths = np.array([len(i) for i in ids])
    padded = np.full((len(ids), lengths.max()), PAD)
    for row, i in zip(padded, ids, strict=True):
        row[:len(i)] = i
    return padded, lengths


def predict(model: ManyToOne, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Predicted labels, evaluated in packed batches of 256 tweets."""
    out = []
    with mg.no_grad():
        for i in range(0, len(ids), 256):
            rows = slice(i, i + 256)
            out.append(model(ids[rows], lengths[rows]).data.argmax(axis=1))
    return np.concatenate(out)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--patience", type=int, default=3, help="stop once validation accuracy has not improved for "
                   "this many epochs (default 3; as many as --epochs trains every epoch)")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--cache", type=Path, default=default_cache(), help="where pip puts the sdist")
    args, rng = start(p)
    if args.patience < 1:
        p.error(f"--patience must be at least 1, got {args.patience}")
    epochs = 2 if args.quick else args.epochs
    tweets, labels, total = load(args.cache)

    order = rng.permutation(len(labels))
    n_test, n_valid = len(order) // 5, len(order) // 10
    test, valid, train = order[:n_test], order[n_test:n_test + n_valid], order[n_test + n_valid:]
    counts = Counter(w for i in train for w in tweets[i])
    vocab = {w: k + 2 for k, w in enumerate(sorted(w for w, c in counts.items() if c >= 2))}
    ids, lengths = encode(tweets, vocab, max_len=50)
    majority = int(np.bincount(labels[train]).argmax())
    baseline = float((labels[test] == majority).mean())
    print(f"{total} tweets, {len(labels)} with |mean rating| >= {THRESHOLD} ({labels.mean():.1%} positive); "
          f"{len(train)} train, {len(valid)} validation, {len(test)} test; vocabulary {len(vocab) + 2}")

    model = ManyToOne(args.cell, args.embed, args.hidden, 2, num_embeddings=len(vocab) + 2, padding_idx=PAD)
    opt = mg.optim.Adam(model.parameters(), lr=3e-3)
    batch = 32
    history, best = [], (-1.0, None, 0)
    with Progress(epochs * -(-len(train) // batch), args.cell.upper()) as bar:
        for epoch in range(epochs):
            losses = []
            for idx in minibatches(len(train), batch, rng):
                rows = train[idx]
                loss = mg.functional.cross_entropy(model(ids[rows], lengths[rows]), labels[rows])
                opt.zero_grad()
                loss.backward()
                mg.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                losses.append(loss.item())
                bar.step(losses[-1])
            scores = [float((predict(model, ids[s], lengths[s]) == labels[s]).mean()) for s in (train, valid)]
            history.append((*scores, float(np.mean(losses))))
            bar.write(f"epoch {epoch + 1}: training loss {history[-1][2]:.4f}, train accuracy {scores[0]:.1%}, "
                      f"validation {scores[1]:.1%}")
            if scores[1] > best[0]:
                best = (scores[1], model.state_dict(), epoch + 1)
            elif epoch + 1 - best[2] >= args.patience:
                bar.write(f"stopped early: no better validation accuracy for {args.patience} epochs")
                break
    model.load_state_dict(best[1])
    accuracy = float((predict(model, ids[test], lengths[test]) == labels[test]).mean())
    print(f"kept epoch {best[2]}, the one with the best validation accuracy (training loss "
          f"{history[best[2] - 1][2]:.4f}); test accuracy {accuracy:.1%} vs majority class {baseline:.1%}")

    for text in ("I love this so much!", "worst day ever :(", "not bad at all", "this is not good"):
        x, n = encode([tokenize(text)], vocab, 50)
        with mg.no_grad():
            prob = model(x, n).softmax().data[0, 1]
        print(f"  P(positive | {text!r}) = {prob:.2f}")

    plt = need("matplotlib.pyplot", "matplotlib")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs_axis = range(1, len(history) + 1)
    ax.plot(epochs_axis, [h[0] for h in history], marker=".", label="train")
    ax.plot(epochs_axis, [h[1] for h in history], marker=".", label="validation")
    ax.axhline(baseline, color="grey", linestyle=":", label=f"majority class {baseline:.1%}")
    ax.scatter([best[2]], [accuracy], color="red", zorder=3, label=f"test at kept epoch {accuracy:.1%}")
    ax.set(xlabel="epoch", ylabel="accuracy", title=f"tweet sentiment, {args.cell.upper()}")
    ax.legend(fontsize=8)
    save_figure(fig, args.out, "sentiment.png")
    result("test_accuracy", accuracy, baseline)


if __name__ == "__main__":
    main()
