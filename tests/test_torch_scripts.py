"""Torch habits carry over: two torch-style training scripts run unchanged but for one import line.

Each script below is written with torch's spellings only, in the style of pytorch/examples'
time-sequence prediction (an ``LSTMCell`` sine-wave predictor trained with ``LBFGS(closure)``) and
word-level language model (``Embedding``, tied decoder weights, dropout 0, ``clip_grad_norm_``, manual
SGD on ``p.data``, ``detach()`` between chunks, ``model.eval()`` under ``no_grad``). The test runs each
once as written, under torch, and once with its first line replaced by ``import micrograd_seq as torch``;
in float64 the losses agree to 1e-9.

Both libraries start from the same weights: the scripts load them from ``common_start(state_dict)``,
which this file provides (the two libraries draw different random numbers).
"""
from __future__ import annotations

import numpy as np
import pytest

IMPORT_TORCH = "import torch\n"
IMPORT_OURS = "import micrograd_seq as torch\n"

SINE_WAVE = IMPORT_TORCH + '''\
import numpy as np

nn, optim = torch.nn, torch.optim
torch.set_default_dtype(torch.float64)

T, L, N, HIDDEN = 20, 30, 8, 10
np.random.seed(2)
x = np.empty((N, L), "int64")
x[:] = np.array(range(L)) + np.random.randint(-4 * T, 4 * T, N).reshape(N, 1)
data = np.sin(x / 1.0 / T).astype("float64")


class Sequence(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm1 = nn.LSTMCell(1, HIDDEN)
        self.lstm2 = nn.LSTMCell(HIDDEN, HIDDEN)
        self.linear = nn.Linear(HIDDEN, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        c_t = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), HIDDEN, dtype=torch.double)

        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for _ in range(future):  # predict the future from its own outputs
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        return torch.cat(outputs, dim=1)


torch.manual_seed(0)
input = torch.from_numpy(data[3:, :-1])
target = torch.from_numpy(data[3:, 1:])
test_input = torch.from_numpy(data[:3, :-1])
test_target = torch.from_numpy(data[:3, 1:])
seq = Sequence()
seq.double()
seq.load_state_dict({name: torch.from_numpy(value) for name, value in common_start(seq.state_dict()).items()})
criterion = nn.MSELoss()
optimizer = optim.LBFGS(seq.parameters(), lr=0.8, max_iter=6)
losses = []
for i in range(5):
    def closure():
        optimizer.zero_grad()
        out = seq(input)
        loss = criterion(out, target)
        loss.backward()
        return loss
    losses.append(optimizer.step(closure).item())
    with torch.no_grad():
        future = 10
        pred = seq(test_input, future=future)
        loss = criterion(pred[:, :-future], test_target)
        losses.append(loss.item())
        y = pred.detach().numpy()
'''

WORD_LM = IMPORT_TORCH + '''\
nn, F = torch.nn, torch.nn.functional
torch.set_default_dtype(torch.float64)
torch.manual_seed(1111)


class Dictionary:
    def __init__(self):
        self.word2idx = {}
        self.idx2word = []

    def add_word(self, word):
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]


def tokenize(dictionary, text):
    idss = []
    for line in text.splitlines():
        words = line.split() + ["<eos>"]
        ids = [dictionary.add_word(word) for word in words]
        idss.append(torch.tensor(ids).type(torch.int64))
    return torch.cat(idss)


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


def batchify(data, bsz):
    nbatch = data.size(0) // bsz
    data = data.narrow(0, 0, nbatch * bsz)
    return data.view(bsz, -1).t().contiguous()


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i:i + seq_len]
    target = source[i + 1:i + 1 + seq_len].view(-1)
    return data, target


def repackage_hidden(h):
    if isinstance(h, torch.Tensor):
        return h.detach()
    return tuple(repackage_hidden(v) for v in h)


def evaluate(data_source):
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


corpus = Dictionary()
train_text = "the cat sat on the mat\\nthe dog sat on the log\\na cat and a dog met on a mat\\n" * 5
valid_text = "the dog sat on the mat\\na cat met the dog on the log\\n"
train_data = batchify(tokenize(corpus, train_text), 4)
eval_batch_size = 2
val_data = batchify(tokenize(corpus, valid_text), eval_batch_size)
ntokens = len(corpus.idx2word)
model = RNNModel(ntokens, 12, 12, 2, dropout=0.0, tie_weights=True)
model.load_state_dict({name: torch.from_numpy(value) for name, value in common_start(model.state_dict()).items()})
criterion = nn.NLLLoss()
lr, clip, bptt = 5.0, 0.25, 5

losses = []
model.train()
hidden = model.init_hidden(4)
for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
    if batch == 5:
        break
    data, targets = get_batch(train_data, i)
    model.zero_grad()
    hidden = repackage_hidden(hidden)
    output, hidden = model(data, hidden)
    loss = criterion(output, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    for p in model.parameters():
        p.data -= lr * p.grad
    losses.append(loss.item())
losses.append(evaluate(val_data))
model.train()
'''


def common_start(state_dict) -> dict[str, np.ndarray]:
    """The same starting weights for both libraries: U(-0.2, 0.2) arrays of the state's shapes, drawn in
    name order from one seed. Names whose current values are equal (a tied weight) get one array."""
    rng = np.random.default_rng(0)
    drawn: dict[str, np.ndarray] = {}
    values = {name: np.array(value.detach().numpy() if hasattr(value, "detach") else value)
              for name, value in state_dict.items()}
    for name, value in values.items():
        twin = next((other for other in drawn if np.array_equal(values[other], value) and value.any()), None)
        drawn[name] = drawn[twin] if twin else rng.uniform(-0.2, 0.2, value.shape)
    return drawn


SCRIPTS = {"sine_wave": SINE_WAVE, "word_lm": WORD_LM}


def run(source: str) -> list[float]:
    """Run a script in a fresh namespace; the losses it recorded."""
    namespace = {"common_start": common_start, "__name__": "torch_script"}
    exec(compile(source, "<torch-style script>", "exec"), namespace)
    return namespace["losses"]


@pytest.fixture
def restore_default_dtype():
    """The scripts call set_default_dtype(float64) on both libraries; put both back afterwards."""
    torch = pytest.importorskip("torch")
    torch_dtype, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_default_dtype(torch_dtype)
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_unchanged_but_for_the_import_and_matches_torch(restore_default_dtype, name):
    source = SCRIPTS[name]
    assert source.startswith(IMPORT_TORCH) and source.count("import torch") == 1
    theirs = run(source)
    assert len(theirs) == {"sine_wave": 10, "word_lm": 6}[name] and all(np.isfinite(theirs))
    ours = run(IMPORT_OURS + source[len(IMPORT_TORCH):])
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
