"""Hand-written numpy forward and backpropagation through time: the floor bench_rnn measures against.

Karpathy's min-char-rnn generalised to batches and to RNN, LSTM and GRU cells: a recurrent
layer, a linear head on every time step, and softmax cross-entropy summed over time and batch.
Every derivative is written out by hand and each step uses as few numpy calls as the maths
allows, so no autograd engine on numpy can be faster than this by more than noise.

Shapes: x (T, B, D), targets (T, B) integer classes in [0, K). Parameters use torch.nn's
layout and gate order: ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh``
(G*H,) with gates i, f, g, o (LSTM) or r, z, n (GRU); ``head.weight`` (K, H), ``head.bias`` (K,).

``forward`` returns the loss and ``saved``: exactly the arrays backward must keep, each its own
buffer, so ``saved_bytes`` is the memory BPTT cannot do without.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from micrograd_seq.ops import sigmoid_array as sigmoid  # the engine's formula, so the maths is identical

__all__ = ["CELLS", "GATES", "PARAM_NAMES", "forward", "backward", "loss_and_grads", "saved_bytes"]

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CELLS = tuple(GATES)
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias")

Params = dict[str, np.ndarray]


# ---- the head: logits = h W^T + b, loss = sum over (t, b) of -log softmax(logits)[target] -----------

def head_forward(p: Params, hs: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Summed cross-entropy of the head's logits; also returns the softmax probabilities backward needs."""
    logits = hs.reshape(-1, hs.shape[-1]) @ p["head.weight"].T + p["head.bias"]
    logits -= logits.max(axis=1, keepdims=True)
    log_probs = logits
    log_probs -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
    rows = np.arange(len(log_probs))
    loss = -log_probs[rows, targets.reshape(-1)].sum()
    return float(loss), np.exp(log_probs)


def head_backward(p: Params, hs: np.ndarray, targets: np.ndarray, probs: np.ndarray) -> tuple[Params, np.ndarray]:
    """d loss / d logits = probs - onehot(targets); returns the head's gradients and d loss / d hs."""
    dlogits = probs  # used once: overwrite in place
    dlogits[np.arange(len(dlogits)), targets.reshape(-1)] -= 1.0
    h2d = hs.reshape(-1, hs.shape[-1])
    grads = {"head.weight": dlogits.T @ h2d, "head.bias": dlogits.sum(axis=0)}
    return grads, (dlogits @ p["head.weight"]).reshape(hs.shape)


def _input_projection(p: Params, x: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """x W_ih^T + bias for the whole sequence in one matmul, shaped (T, B, G*H)."""
    T, B, D = x.shape
    return (x.reshape(T * B, D) @ p["weight_ih"].T + bias).reshape(T, B, -1)


def _weight_grads(p: Params, x: np.ndarray, h_prev: np.ndarray, d_in: np.ndarray, d_hid: np.ndarray) -> Params:
    """The cell's parameter gradients from d(pre-activation) of the input and hidden projections.

    One matmul over all time steps for each weight, instead of one small one per step.
    """
    x2d, h2d = x.reshape(-1, x.shape[-1]), h_prev.reshape(-1, h_prev.shape[-1])
    d_in2d, d_hid2d = d_in.reshape(-1, d_in.shape[-1]), d_hid.reshape(-1, d_hid.shape[-1])
    return {"weight_ih": d_in2d.T @ x2d, "weight_hh": d_hid2d.T @ h2d,
            "bias_ih": d_in2d.sum(axis=0), "bias_hh": d_hid2d.sum(axis=0)}


# ---- RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) ----------------------------------------------

def rnn_forward(p: Params, x: np.ndarray) -> tuple[np.ndarray, Params]:
    """hs[t + 1] is the hidden state after step t (hs[0] = 0); saved: hs."""
    T, B, _ = x.shape
    W_hh_T = p["weight_hh"].T
    x_proj = _input_projection(p, x, p["bias_ih"] + p["bias_hh"])
    hs = np.zeros((T + 1, B, W_hh_T.shape[0]), dtype=x.dtype)
    for t in range(T):
        hs[t + 1] = np.tanh(x_proj[t] + hs[t] @ W_hh_T)
    return hs, {"hs": hs}


def rnn_backward(p: Params, x: np.ndarray, saved: Params, d_out: np.ndarray) -> Params:
    hs, W_hh = saved["hs"], p["weight_hh"]
    d_pre = np.empty_like(d_out)  # d loss / d (pre-activation) at every step
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(len(d_out))):
        d_pre[t] = (d_out[t] + dh_next) * (1.0 - hs[t + 1] * hs[t + 1])
        dh_next = d_pre[t] @ W_hh
    return _weight_grads(p, x, hs[:-1], d_pre, d_pre)


# ---- LSTM: i, f, g, o = split(pre); c' = f c + i g; h' = o tanh(c') ---------------------------------

def lstm_forward(p: Params, x: np.ndarray) -> tuple[np.ndarray, Params]:
    """saved: hs and cs (T + 1 states each), the activated gates, and tanh of each new cell."""
    T, B, _ = x.shape
    W_hh_T = p["weight_hh"].T
    H = W_hh_T.shape[0]
    gates = _input_projection(p, x, p["bias_ih"] + p["bias_hh"])  # pre-activations, activated in place
    hs = np.zeros((T + 1, B, H), dtype=x.dtype)
    cs = np.zeros((T + 1, B, H), dtype=x.dtype)
    tanh_cs = np.empty((T, B, H), dtype=x.dtype)
    for t in range(T):
        a = gates[t]
        a += hs[t] @ W_hh_T
        a[:, :2 * H] = sigmoid(a[:, :2 * H])          # i, f
        a[:, 2 * H:3 * H] = np.tanh(a[:, 2 * H:3 * H])  # g
        a[:, 3 * H:] = sigmoid(a[:, 3 * H:])            # o
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        cs[t + 1] = f * cs[t] + i * g
        tanh_cs[t] = np.tanh(cs[t + 1])
        hs[t + 1] = o * tanh_cs[t]
    return hs, {"hs": hs, "cs": cs, "gates": gates, "tanh_cs": tanh_cs}


def lstm_backward(p: Params, x: np.ndarray, saved: Params, d_out: np.ndarray) -> Params:
    hs, cs, gates, tanh_cs, W_hh = saved["hs"], saved["cs"], saved["gates"], saved["tanh_cs"], p["weight_hh"]
    H = hs.shape[-1]
    d_pre = np.empty_like(gates)
    dh_next = np.zeros_like(hs[0])
    dc_next = np.zeros_like(cs[0])
    for t in reversed(range(len(d_out))):
        a = gates[t]
        i, f, g, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
        dh = d_out[t] + dh_next
        dc = dc_next + dh * o * (1.0 - tanh_cs[t] * tanh_cs[t])
        d = d_pre[t]
        d[:, :H] = dc * g * i * (1.0 - i)
        d[:, H:2 * H] = dc * cs[t] * f * (1.0 - f)
        d[:, 2 * H:3 * H] = dc * i * (1.0 - g * g)
        d[:, 3 * H:] = dh * tanh_cs[t] * o * (1.0 - o)
        dc_next = dc * f
        dh_next = d @ W_hh
    return _weight_grads(p, x, hs[:-1], d_pre, d_pre)


# ---- GRU (torch's form): r, z = sigmoid(x_rz + h_rz); n = tanh(x_n + r h_n); h' = (1 - z) n + z h --
# where x_* = x W_i*^T + b_i* and h_* = h W_h*^T + b_h*.

def gru_forward(p: Params, x: np.ndarray) -> tuple[np.ndarray, Params]:
    """saved: hs, the activated gates r, z, n, and h_n = h W_hn^T + b_hn (r multiplies it)."""
    T, B, _ = x.shape
    W_hh_T = p["weight_hh"].T
    H = W_hh_T.shape[0]
    b_hn = p["bias_hh"][2 * H:]
    bias = p["bias_ih"].copy()
    bias[:2 * H] += p["bias_hh"][:2 * H]  # r and z add both biases; n keeps b_hn inside r * (...)
    gates = _input_projection(p, x, bias)  # pre-activations from the input, activated in place
    hs = np.zeros((T + 1, B, H), dtype=x.dtype)
    h_ns = np.empty((T, B, H), dtype=x.dtype)
    for t in range(T):
        a = gates[t]
        h_proj = hs[t] @ W_hh_T
        a[:, :2 * H] = sigmoid(a[:, :2 * H] + h_proj[:, :2 * H])  # r, z
        h_ns[t] = h_proj[:, 2 * H:] + b_hn
        a[:, 2 * H:] = np.tanh(a[:, 2 * H:] + a[:, :H] * h_ns[t])  # n
        z, n = a[:, H:2 * H], a[:, 2 * H:]
        hs[t + 1] = n + z * (hs[t] - n)  # (1 - z) n + z h, one op fewer
    return hs, {"hs": hs, "gates": gates, "h_ns": h_ns}


def gru_backward(p: Params, x: np.ndarray, saved: Params, d_out: np.ndarray) -> Params:
    hs, gates, h_ns, W_hh = saved["hs"], saved["gates"], saved["h_ns"], p["weight_hh"]
    H = hs.shape[-1]
    d_in = np.empty_like(gates)   # d loss / d (x W_ih^T + b_ih)
    d_hid = np.empty_like(gates)  # d loss / d (h W_hh^T + b_hh)
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(len(d_out))):
        a = gates[t]
        r, z, n = a[:, :H], a[:, H:2 * H], a[:, 2 * H:]
        dh = d_out[t] + dh_next
        dn_pre = dh * (1.0 - z) * (1.0 - n * n)
        d_rz = d_hid[t, :, :2 * H]
        d_rz[:, :H] = dn_pre * h_ns[t] * r * (1.0 - r)
        d_rz[:, H:] = dh * (hs[t] - n) * z * (1.0 - z)
        d_hid[t, :, 2 * H:] = dn_pre * r
        d_in[t, :, :2 * H] = d_rz
        d_in[t, :, 2 * H:] = dn_pre
        dh_next = dh * z + d_hid[t] @ W_hh
    return _weight_grads(p, x, hs[:-1], d_in, d_hid)


_CELL_FORWARD: dict[str, Callable] = {"rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}
_CELL_BACKWARD: dict[str, Callable] = {"rnn": rnn_backward, "lstm": lstm_backward, "gru": gru_backward}


# ---- the whole model ---------------------------------------------------------------------------------

def forward(cell: str, p: Params, x: np.ndarray, targets: np.ndarray) -> tuple[float, Params]:
    """The summed loss, and the arrays backward needs (each its own buffer)."""
    hs, saved = _CELL_FORWARD[cell](p, x)
    loss, saved["probs"] = head_forward(p, hs[1:], targets)
    return loss, saved


def backward(cell: str, p: Params, x: np.ndarray, targets: np.ndarray, saved: Params) -> Params:
    """Every parameter's gradient, by hand; consumes ``saved`` (its arrays are overwritten)."""
    grads, d_out = head_backward(p, saved["hs"][1:], targets, saved["probs"])
    grads.update(_CELL_BACKWARD[cell](p, x, saved, d_out))
    return grads


def loss_and_grads(cell: str, p: Params, x: np.ndarray, targets: np.ndarray) -> tuple[float, Params]:
    """Forward and BPTT: the loss and d loss / d parameter for every name in PARAM_NAMES."""
    if cell not in GATES:
        raise ValueError(f"numpy_bptt: cell must be one of {CELLS}, got {cell!r}")
    loss, saved = forward(cell, p, x, targets)
    return loss, backward(cell, p, x, targets, saved)


def saved_bytes(saved: Params) -> int:
    """Bytes of the activations backward keeps (no two entries share memory)."""
    arrays = list(saved.values())
    for k, a in enumerate(arrays):
        if any(np.shares_memory(a, b) for b in arrays[k + 1:]):
            raise ValueError("saved_bytes: two saved arrays share memory, the count would be wrong")
    return sum(a.nbytes for a in arrays)
