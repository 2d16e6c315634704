"""Hand-written numpy forward and backpropagation through time: the floor bench_rnn measures against.

Karpathy's min-char-rnn generalised to batches and to RNN, LSTM and GRU cells: a recurrent
layer, a linear head on every time step, and softmax cross-entropy summed over time and batch.
Every derivative is written out by hand, and the code does as little numpy work, in as few
numpy calls, as the maths allows, so that no engine on numpy can beat it by more than noise:

- whole-sequence work is one call: every weight gradient is one matmul over all T x B rows,
  the head and its softmax (one exp) run once over all T x B rows;
- the time loops write into buffers made once per sequence (``out=``), on views taken by
  iterating the buffers (no temporaries, no Python indexing in the loops);
- a sigmoid costs three calls and no negation: the forward pass runs on weights whose
  sigmoid-gate rows are negated, so ``exp`` sees -x directly (1 / (1 + exp(-x)), the engine's
  formula); the LSTM's gates are stacked o, i, f, g inside, so its three sigmoid gates are one
  slice going forward and the three gates that scale with dc (i, f, g) are one slice coming back;
- the derivative factors (s (1 - s) and friends) are computed for a block of time steps at a
  time, sized to stay in the L2 cache (``BLOCK_BYTES``): one call covers every step of a short
  sequence, and long ones do not stream through memory; each backward step is then a handful
  of multiplies, written over the saved gates it no longer needs.

Two forms, because neither is fastest everywhere (benchmarks/README.md has the race):

- projected (``fused=False``): the input projection x W_ih^T + b is one matmul over the whole
  sequence before the loop, and each step adds h W_hh^T. Fastest when matmuls dominate.
- fused (``fused=True``): each step is one matmul of [h_t, x_t, 1] by the stacked
  [W_hh, W_ih, b]; the state lives beside its input in one (T + 1, B, H + D + 1) buffer, so every
  weight and bias gradient of the cell is one matmul too. Fewer calls per step: fastest when
  per-call overhead dominates (batch 1) and for the LSTM on long sequences. The GRU's step
  matmul then carries two zero blocks (x_n has no h part, h_n no x part).

bench_rnn times both in the same run and takes the faster as the floor of each configuration.

Shapes: x (T, B, D), targets (T, B) integer classes in [0, K). Parameters use torch.nn's
layout and gate order: ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh``
(G*H,) with gates i, f, g, o (LSTM) or r, z, n (GRU); ``head.weight`` (K, H), ``head.bias`` (K,).

``forward`` returns the loss and ``saved``: exactly the arrays backward must keep, each its own
buffer (in the fused form ``hs`` is the state part of the [h, x, 1] buffer), so ``saved_bytes``
is the memory BPTT cannot do without.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

__all__ = ["CELLS", "GATES", "PARAM_NAMES", "BLOCK_BYTES", "forward", "backward", "loss_and_grads", "saved_bytes"]

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CELLS = tuple(GATES)
PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "head.weight", "head.bias")
BLOCK_BYTES = 256 * 1024  # derivative factors per block of time steps: half the L2 cache of a current core

Params = dict[str, np.ndarray]


# ---- the head: logits = h W^T + b, loss = sum over (t, b) of -log softmax(logits)[target] -----------

def _picked(targets: np.ndarray, classes: int) -> np.ndarray:
    """Flat indices of each row's target in a (T*B, K) array."""
    return np.arange(0, targets.size * classes, classes) + targets.reshape(-1)


def head_forward(p: Params, hs2d: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """Summed cross-entropy over the (T*B, H) hidden states; also the softmax probabilities backward needs.

    One exp: loss = sum(log sum exp(z)) - sum(z[target]), with z the logits less each row's max.
    """
    logits = np.dot(hs2d, p["head.weight"].T)
    logits += p["head.bias"]
    logits -= logits.max(axis=1, keepdims=True)
    picked = logits.ravel()[_picked(targets, logits.shape[1])]
    probs = np.exp(logits, out=logits)
    total = probs.sum(axis=1, keepdims=True)
    loss = float(np.log(total).sum() - picked.sum())
    probs /= total
    return loss, probs


def head_backward(p: Params, hs2d: np.ndarray, targets: np.ndarray, probs: np.ndarray,
                  grads: Params) -> np.ndarray:
    """d loss / d logits = probs - onehot(targets) (in place); stores the head's gradients, returns d loss / d hs."""
    probs.ravel()[_picked(targets, probs.shape[1])] -= 1.0
    grads["head.weight"] = np.dot(probs.T, hs2d)
    grads["head.bias"] = probs.sum(axis=0)
    return np.dot(probs, p["head.weight"])


# ---- shared by the cells ------------------------------------------------------------------------------

def _negated_rows(w: np.ndarray, rows: int) -> np.ndarray:
    """A copy of ``w`` with its first ``rows`` rows (the sigmoid gates') negated."""
    out = np.array(w, copy=True)
    out[:rows] *= -1.0
    return out


def _sigmoid_of_negated(s: np.ndarray) -> None:
    """In place: s holds -x, and becomes 1 / (1 + exp(-x)) (exp overflowing to inf gives 0, as it should)."""
    np.exp(s, out=s)
    s += 1.0
    np.reciprocal(s, out=s)


def _block_size(T: int, step_bytes: int, block_steps: int | None) -> int:
    """Time steps per block of derivative factors: as many as fit in BLOCK_BYTES, or ``block_steps``."""
    return max(1, min(T, BLOCK_BYTES // step_bytes if block_steps is None else block_steps))


def _blocks(T: int, k: int) -> Iterator[tuple[int, int]]:
    """Blocks (lo, hi) of k time steps, last block first."""
    for hi in range(T, 0, -k):
        yield max(0, hi - k), hi


def _states_beside_inputs(x: np.ndarray, H: int) -> np.ndarray:
    """The fused form's buffer hx (T + 1, B, H + D + 1): hx[t] = [h_t, x_t, 1], h_t the state step t starts from."""
    T, B, D = x.shape
    hx = np.empty((T + 1, B, H + D + 1), dtype=x.dtype)
    hx[0, :, :H] = 0.0
    hx[:-1, :, H:-1] = x
    hx[-1, :, H:-1] = 0.0  # no input after the last step
    hx[..., -1] = 1.0
    return hx


def _weight_grads(grads: Params, x: np.ndarray, hs: np.ndarray, d: np.ndarray, fused: bool) -> None:
    """Each weight's gradient as one matmul over all T*B rows, from d loss / d pre-activation (T, B, G*H).

    For cells whose input and hidden projections are simply added (RNN, LSTM). In the fused
    form hs is a view of the [h, x, 1] buffer, and one matmul gives [dW_hh, dW_ih, db]; in the
    projected form step 0 meets h_0 = 0, so its rows are left out of weight_hh's.
    """
    T, B, _ = d.shape
    H = hs.shape[-1]
    d2d = d.reshape(T * B, -1)
    if fused:
        hx = hs.base  # the buffer hs is the first H columns of
        assert hx is not None
        both = np.dot(d2d.T, hx[:-1].reshape(T * B, -1))
        grads["weight_hh"], grads["weight_ih"], grads["bias_ih"] = both[:, :H], both[:, H:-1], both[:, -1]
    else:
        grads["weight_ih"] = np.dot(d2d.T, x.reshape(T * B, -1))
        grads["weight_hh"] = np.dot(d2d[B:].T, hs[1:-1].reshape((T - 1) * B, H))
        grads["bias_ih"] = d2d.sum(axis=0)
    grads["bias_hh"] = grads["bias_ih"].copy()


# ---- RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) ----------------------------------------------

def rnn_forward(p: Params, x: np.ndarray, fused: bool) -> tuple[np.ndarray, Params]:
    """hs[t + 1] is the hidden state after step t (hs[0] = 0); saved: hs."""
    T, B, D = x.shape
    H = p["weight_hh"].shape[1]
    bias = p["bias_ih"] + p["bias_hh"]
    if fused:
        hx = _states_beside_inputs(x, H)
        hs = hx[..., :H]
        W_T = np.concatenate([p["weight_hh"], p["weight_ih"], bias[:, None]], axis=1).T.copy()
        pre = np.empty((B, H), dtype=x.dtype)
        for hx_t, h_t in zip(hx[:-1], hs[1:], strict=True):
            np.dot(hx_t, W_T, out=pre)
            np.tanh(pre, out=h_t)
        return hs, {"hs": hs}
    W_hh_T = p["weight_hh"].T.copy()
    hs = np.empty((T + 1, B, H), dtype=x.dtype)
    hs[0] = 0.0
    np.dot(x.reshape(T * B, D), p["weight_ih"].T, out=hs[1:].reshape(T * B, H))  # projected in place
    hs[1:] += bias
    tmp = np.empty((B, H), dtype=x.dtype)
    h = None
    for h_t in hs[1:]:
        if h is not None:
            np.dot(h, W_hh_T, out=tmp)
            h_t += tmp
        np.tanh(h_t, out=h_t)
        h = h_t
    return hs, {"hs": hs}


def rnn_backward(p: Params, x: np.ndarray, saved: Params, d_out: np.ndarray, block_steps: int | None,
                 grads: Params, fused: bool) -> None:
    """d_out (T, B, H) becomes d loss / d pre-activation, step by step from the last."""
    hs, W_hh = saved["hs"], p["weight_hh"]
    T, B, H = d_out.shape
    k = _block_size(T, B * H * x.itemsize, block_steps)
    factor = np.empty((k, B, H), dtype=x.dtype)
    tmp = np.empty((B, H), dtype=x.dtype)
    d_next = None
    for lo, hi in _blocks(T, k):
        tanh_grad = factor[:hi - lo]
        np.multiply(hs[lo + 1:hi + 1], hs[lo + 1:hi + 1], out=tanh_grad)
        np.subtract(1.0, tanh_grad, out=tanh_grad)
        for d, tanh_grad_t in zip(d_out[lo:hi][::-1], tanh_grad[::-1], strict=True):
            if d_next is not None:
                np.dot(d_next, W_hh, out=tmp)
                d += tmp
            d *= tanh_grad_t
            d_next = d
    _weight_grads(grads, x, hs, d_out, fused)


# ---- LSTM: i, f, g, o = split(pre); c' = f c + i g; h' = o tanh(c') ---------------------------------
# Inside, the gates are stacked o, i, f, g (torch's rows 3H:4H, then 0:3H).

def _lstm_rows(H: int) -> np.ndarray:
    return np.r_[3 * H:4 * H, 0:3 * H]


def lstm_forward(p: Params, x: np.ndarray, fused: bool) -> tuple[np.ndarray, Params]:
    """saved: hs and cs (T + 1 states each), the activated gates (o, i, f, g), and tanh of each new cell."""
    T, B, D = x.shape
    H = p["weight_hh"].shape[1]
    rows = _lstm_rows(H)
    bias = _negated_rows((p["bias_ih"] + p["bias_hh"])[rows], 3 * H)
    W_hh = _negated_rows(p["weight_hh"][rows], 3 * H)
    W_ih = _negated_rows(p["weight_ih"][rows], 3 * H)
    if fused:
        hx = _states_beside_inputs(x, H)
        hs, steps_from = hx[..., :H], hx[:-1]
        W_T = np.concatenate([W_hh, W_ih, bias[:, None]], axis=1).T.copy()
        gates = np.empty((T, B, 4 * H), dtype=x.dtype)
    else:
        hs = np.empty((T + 1, B, H), dtype=x.dtype)
        hs[0] = 0.0
        steps_from, W_T = hs[:-1], W_hh.T.copy()
        gates = np.dot(x.reshape(T * B, D), W_ih.T).reshape(T, B, 4 * H)
        gates += bias
    cs = np.empty((T + 1, B, H), dtype=x.dtype)
    cs[0] = 0.0
    tanh_cs = np.empty((T, B, H), dtype=x.dtype)
    tmp = np.empty((B, 4 * H), dtype=x.dtype)
    ig = np.empty((B, H), dtype=x.dtype)
    sig, o, i, f, g = (gates[..., :3 * H], gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H],
                       gates[..., 3 * H:])
    c = cs[0]
    with np.errstate(over="ignore"):
        for t, (src, a, s, o_t, i_t, f_t, g_t, h_t, c_t, tc) in enumerate(zip(
                steps_from, gates, sig, o, i, f, g, hs[1:], cs[1:], tanh_cs, strict=True)):
            if fused:
                np.dot(src, W_T, out=a)       # [h, x, 1] [W_hh, W_ih, b]^T
            elif t:
                np.dot(src, W_T, out=tmp)     # h W_hh^T, added to the projected input
                a += tmp
            _sigmoid_of_negated(s)
            np.tanh(g_t, out=g_t)
            np.multiply(f_t, c, out=c_t)
            np.multiply(i_t, g_t, out=ig)
            c_t += ig
            np.tanh(c_t, out=tc)
            np.multiply(o_t, tc, out=h_t)
            c = c_t
    return hs, {"hs": hs, "cs": cs, "gates": gates, "tanh_cs": tanh_cs}


def lstm_backward(p: Params, x: np.ndarray, saved: Params, d_out: np.ndarray, block_steps: int | None,
                  grads: Params, fused: bool) -> None:
    """The gates' buffer becomes d loss / d pre-activation (o, i, f, g), step by step from the last."""
    hs, cs, gates, tanh_cs = saved["hs"], saved["cs"], saved["gates"], saved["tanh_cs"]
    T, B, H = d_out.shape
    W_hh = p["weight_hh"][_lstm_rows(H)]
    k = _block_size(T, B * 5 * H * x.itemsize, block_steps)
    by_dh = np.empty((k, B, 4 * H), dtype=x.dtype)  # d pre / d h (o) and d pre / d c (i, f, g)
    c_from_h = np.empty((k, B, H), dtype=x.dtype)    # d c / d h = o (1 - tanh(c)^2)
    sig, o, i, f, g = (gates[..., :3 * H], gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H],
                       gates[..., 3 * H:])
    d_ifg = gates[..., H:].reshape(T, B, 3, H)
    dc, dc_f, tmp = np.zeros((B, H), dtype=x.dtype), np.zeros((B, H), dtype=x.dtype), np.empty((B, H), dtype=x.dtype)
    d_next = None
    for lo, hi in _blocks(T, k):
        P, K = by_dh[:hi - lo], c_from_h[:hi - lo]
        ds = P[..., :3 * H]
        np.subtract(1.0, sig[lo:hi], out=ds)
        ds *= sig[lo:hi]                     # s (1 - s) for o, i, f
        P[..., :H] *= tanh_cs[lo:hi]         # o: times tanh(c)
        P[..., H:2 * H] *= g[lo:hi]          # i: times g
        P[..., 2 * H:3 * H] *= cs[lo:hi]     # f: times the previous c
        Pg = P[..., 3 * H:]
        np.multiply(g[lo:hi], g[lo:hi], out=Pg)
        np.subtract(1.0, Pg, out=Pg)
        Pg *= i[lo:hi]                       # g: i (1 - g^2)
        np.multiply(tanh_cs[lo:hi], tanh_cs[lo:hi], out=K)
        np.subtract(1.0, K, out=K)
        K *= o[lo:hi]
        P_ifg = P[..., H:].reshape(hi - lo, B, 3, H)
        for dh, K_t, P_o, P_ifg_t, f_t, d_o, d_ifg_t, d_t in zip(
                d_out[lo:hi][::-1], K[::-1], P[::-1, :, :H], P_ifg[::-1], f[lo:hi][::-1], o[lo:hi][::-1],
                d_ifg[lo:hi][::-1], gates[lo:hi][::-1], strict=True):
            if d_next is not None:
                np.dot(d_next, W_hh, out=tmp)
                dh += tmp
            np.multiply(dh, K_t, out=dc)
            dc += dc_f                       # dc from the next step, through its forget gate
            np.multiply(dc, f_t, out=dc_f)
            np.multiply(dc[:, None, :], P_ifg_t, out=d_ifg_t)
            np.multiply(dh, P_o, out=d_o)
            d_next = d_t
    _weight_grads(grads, x, hs, gates, fused)
    torch_rows = np.r_[H:4 * H, 0:H]  # back to i, f, g, o
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        grads[name] = grads[name][torch_rows]


# ---- GRU (torch's form): r, z = sigmoid(x_rz + h_rz); n = tanh(x_n + r h_n); h' = (1 - z) n + z h --
# where x_* = x W_i*^T + b_i* and h_* = h W_h*^T + b_h*.

def gru_forward(p: Params, x: np.ndarray, fused: bool) -> tuple[np.ndarray, Params]:
    """saved: hs, the activated gates r, z, n, and h_n = h W_hn^T + b_hn (r multiplies it)."""
    if fused:
        return _gru_fused_forward(p, x)
    T, B, D = x.shape
    H = p["weight_hh"].shape[1]
    W_hh_T = _negated_rows(p["weight_hh"], 2 * H).T.copy()
    b_hn = p["bias_hh"][2 * H:]
    bias = p["bias_ih"].copy()
    bias[:2 * H] += p["bias_hh"][:2 * H]  # r and z add both biases; n keeps b_hn inside r * (...)
    gates = np.dot(x.reshape(T * B, D), _negated_rows(p["weight_ih"], 2 * H).T).reshape(T, B, 3 * H)
    gates += _negated_rows(bias, 2 * H)
    hs = np.empty((T + 1, B, H), dtype=x.dtype)
    hs[0] = 0.0
    h_ns = np.empty((T, B, H), dtype=x.dtype)
    h_proj = np.zeros((B, 3 * H), dtype=x.dtype)  # h W_hh^T (r, z negated), zero for h_0
    tmp = np.empty((B, H), dtype=x.dtype)
    h = hs[0]
    with np.errstate(over="ignore"):
        for t, (rz, r, z, n, h_t, h_n) in enumerate(zip(gates[..., :2 * H], gates[..., :H], gates[..., H:2 * H],
                                                        gates[..., 2 * H:], hs[1:], h_ns, strict=True)):
            if t:
                np.dot(h, W_hh_T, out=h_proj)
                rz += h_proj[:, :2 * H]
            _sigmoid_of_negated(rz)
            np.add(h_proj[:, 2 * H:], b_hn, out=h_n)
            np.multiply(r, h_n, out=tmp)
            n += tmp
            np.tanh(n, out=n)
            np.subtract(h, n, out=h_t)
            h_t *= z
            h_t += n                         # (1 - z) n + z h = n + z (h - n)
            h = h_t
    return hs, {"hs": hs, "gates": gates, "h_ns": h_ns}


def _gru_factors(F: np.ndarray, h_minus_n: np.ndarray, r: np.ndarray, z: np.ndarray, n: np.ndarray,
                 h_n: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For a block of steps, into F (steps, B, 3H): the pre-activation gradients per unit of dn or dh.

    r: r (1 - r) h_n (times dn); z: z (1 - z)(h - n) (times dh); n: (1 - z)(1 - n^2) (times dh).
    """
    H = r.shape[-1]
    Pr, Pz, Pn = F[..., :H], F[..., H:2 * H], F[..., 2 * H:]
    np.subtract(1.0, r, out=Pr)
    Pr *= r
    Pr *= h_n
    np.subtract(1.0, z, out=Pz)
    np.multiply(n, n, out=Pn)
    np.subtract(1.0, Pn, out=Pn)
    Pn *= Pz
    Pz *= z
    np.subtract(h, n, out=h_minus_n)
    Pz *= h_minus_n
    return Pr, Pz, Pn


def gru_backward(p: Params, x: np.ndarray, saved: Params, d_out: np.ndarray, block_steps: int | None,
                 grads: Params, fused: bool) -> None:
    """The gates' buffer becomes d loss / d (h W_hh^T + b_hh); h_ns becomes d loss / d x_n."""
    if fused:
        _gru_fused_backward(p, x, saved, d_out, block_steps, grads)
        return
    hs, gates, h_ns, W_hh = saved["hs"], saved["gates"], saved["h_ns"], p["weight_hh"]
    T, B, H = d_out.shape
    k = _block_size(T, B * 4 * H * x.itemsize, block_steps)
    factors = np.empty((k, B, 3 * H), dtype=x.dtype)
    h_minus_n = np.empty((k, B, H), dtype=x.dtype)
    r, z, n = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:]
    tmp, dh_z = np.empty((B, H), dtype=x.dtype), np.empty((B, H), dtype=x.dtype)
    d_next = None
    for lo, hi in _blocks(T, k):
        Pr, Pz, Pn = _gru_factors(factors[:hi - lo], h_minus_n[:hi - lo], r[lo:hi], z[lo:hi], n[lo:hi],
                                  h_ns[lo:hi], hs[lo:hi])
        for dh, Pr_t, Pz_t, Pn_t, dn, r_t, z_t, n_t, d_t in zip(
                d_out[lo:hi][::-1], Pr[::-1], Pz[::-1], Pn[::-1], h_ns[lo:hi][::-1], r[lo:hi][::-1],
                z[lo:hi][::-1], n[lo:hi][::-1], gates[lo:hi][::-1], strict=True):
            if d_next is not None:
                np.dot(d_next, W_hh, out=tmp)
                dh += tmp
                dh += dh_z                   # through h' = ... + z h
            np.multiply(dh, Pn_t, out=dn)
            np.multiply(dh, z_t, out=dh_z)
            np.multiply(dn, r_t, out=n_t)    # d h_n, over n
            np.multiply(dn, Pr_t, out=r_t)
            np.multiply(dh, Pz_t, out=z_t)
            d_next = d_t
    # The input side shares d r and d z with the hidden side; its n part is d_xn, not r * d_xn.
    x2d, d_hid, d_xn = x.reshape(T * B, -1), gates.reshape(T * B, 3 * H), h_ns.reshape(T * B, H)
    grads["weight_ih"] = np.empty((3 * H, x2d.shape[1]), dtype=x.dtype)
    np.dot(d_hid[:, :2 * H].T, x2d, out=grads["weight_ih"][:2 * H])
    np.dot(d_xn.T, x2d, out=grads["weight_ih"][2 * H:])
    grads["weight_hh"] = np.dot(d_hid[B:].T, hs[1:-1].reshape((T - 1) * B, H))
    grads["bias_hh"] = d_hid.sum(axis=0)
    grads["bias_ih"] = grads["bias_hh"].copy()
    grads["bias_ih"][2 * H:] = d_xn.sum(axis=0)


# The fused GRU: each step's matmul gives the pre-activations [r, z, h_n, x_n] (4H columns) from
# [h, x, 1]; the x_n rows have a zero h block and the h_n rows a zero x block.

def _gru_fused_forward(p: Params, x: np.ndarray) -> tuple[np.ndarray, Params]:
    """saved: hs (in the [h, x, 1] buffer) and the gates [r, z, h_n, n]."""
    T, B, D = x.shape
    H = p["weight_hh"].shape[1]
    W_hh, W_ih, b_ih, b_hh = p["weight_hh"], p["weight_ih"], p["bias_ih"], p["bias_hh"]
    W = np.zeros((4 * H, H + D + 1), dtype=x.dtype)
    W[:2 * H, :H], W[:2 * H, H:-1], W[:2 * H, -1] = -W_hh[:2 * H], -W_ih[:2 * H], -(b_ih[:2 * H] + b_hh[:2 * H])
    W[2 * H:3 * H, :H], W[2 * H:3 * H, -1] = W_hh[2 * H:], b_hh[2 * H:]   # h_n
    W[3 * H:, H:-1], W[3 * H:, -1] = W_ih[2 * H:], b_ih[2 * H:]           # x_n
    W_T = W.T.copy()
    hx = _states_beside_inputs(x, H)
    hs = hx[..., :H]
    gates = np.empty((T, B, 4 * H), dtype=x.dtype)
    tmp = np.empty((B, H), dtype=x.dtype)
    h = hs[0]
    with np.errstate(over="ignore"):
        for hx_t, a, rz, r, z, h_n, n, h_t in zip(hx[:-1], gates, gates[..., :2 * H], gates[..., :H],
                                                gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:],
                                                hs[1:], strict=True):
            np.dot(hx_t, W_T, out=a)
            _sigmoid_of_negated(rz)
            np.multiply(r, h_n, out=tmp)
            n += tmp
            np.tanh(n, out=n)
            np.subtract(h, n, out=h_t)
            h_t *= z
            h_t += n
            h = h_t
    return hs, {"hs": hs, "gates": gates}


def _gru_fused_backward(p: Params, x: np.ndarray, saved: Params, d_out: np.ndarray, block_steps: int | None,
                        grads: Params) -> None:
    """The gates' buffer becomes d loss / d [r, z, h_n, x_n] pre-activations; one matmul gives every weight's."""
    hs, gates, W_hh = saved["hs"], saved["gates"], p["weight_hh"]
    T, B, H = d_out.shape
    k = _block_size(T, B * 4 * H * x.itemsize, block_steps)
    factors = np.empty((k, B, 3 * H), dtype=x.dtype)
    h_minus_n = np.empty((k, B, H), dtype=x.dtype)
    r, z, h_n, n = gates[..., :H], gates[..., H:2 * H], gates[..., 2 * H:3 * H], gates[..., 3 * H:]
    tmp, dh_z = np.empty((B, H), dtype=x.dtype), np.empty((B, H), dtype=x.dtype)
    d_next = None
    for lo, hi in _blocks(T, k):
        Pr, Pz, Pn = _gru_factors(factors[:hi - lo], h_minus_n[:hi - lo], r[lo:hi], z[lo:hi], n[lo:hi],
                                  h_n[lo:hi], hs[lo:hi])
        for dh, Pr_t, Pz_t, Pn_t, r_t, z_t, hn_t, n_t, d_t in zip(
                d_out[lo:hi][::-1], Pr[::-1], Pz[::-1], Pn[::-1], r[lo:hi][::-1], z[lo:hi][::-1],
                h_n[lo:hi][::-1], n[lo:hi][::-1], gates[lo:hi][::-1], strict=True):
            if d_next is not None:
                np.dot(d_next[:, :3 * H], W_hh, out=tmp)  # d [r, z, h_n] reach h through W_hh
                dh += tmp
                dh += dh_z
            np.multiply(dh, Pn_t, out=n_t)   # d x_n, over n
            np.multiply(dh, z_t, out=dh_z)
            np.multiply(n_t, r_t, out=hn_t)  # d h_n, over h_n
            np.multiply(n_t, Pr_t, out=r_t)
            np.multiply(dh, Pz_t, out=z_t)
            d_next = d_t
    hx = hs.base  # the [h, x, 1] buffer hs is the first H columns of
    assert hx is not None
    all_rows = np.dot(gates.reshape(T * B, 4 * H).T, hx[:-1].reshape(T * B, -1))  # [dW_h, dW_x, db]
    hidden, inputs = np.r_[0:3 * H], np.r_[0:2 * H, 3 * H:4 * H]  # rows r, z, h_n and r, z, x_n
    grads["weight_hh"], grads["bias_hh"] = all_rows[hidden, :H], all_rows[hidden, -1]
    grads["weight_ih"], grads["bias_ih"] = all_rows[inputs, H:-1], all_rows[inputs, -1]


_CELL_FORWARD: dict[str, Callable] = {"rnn": rnn_forward, "lstm": lstm_forward, "gru": gru_forward}
_CELL_BACKWARD: dict[str, Callable] = {"rnn": rnn_backward, "lstm": lstm_backward, "gru": gru_backward}


# ---- the whole model ---------------------------------------------------------------------------------

def forward(cell: str, p: Params, x: np.ndarray, targets: np.ndarray, fused: bool = False) -> tuple[float, Params]:
    """The summed loss, and the arrays backward needs (each its own buffer)."""
    hs, saved = _CELL_FORWARD[cell](p, x, fused)
    loss, saved["probs"] = head_forward(p, hs[1:].reshape(-1, hs.shape[-1]), targets)
    return loss, saved


def backward(cell: str, p: Params, x: np.ndarray, targets: np.ndarray, saved: Params,
             block_steps: int | None = None, fused: bool = False) -> Params:
    """Every parameter's gradient, by hand; consumes ``saved`` (its arrays are overwritten).

    ``block_steps``: time steps per block of derivative factors (default: as many as fit in
    BLOCK_BYTES); ``fused``: the form ``forward`` ran in.
    """
    hs = saved["hs"]
    grads: Params = {}
    d_out = head_backward(p, hs[1:].reshape(-1, hs.shape[-1]), targets, saved["probs"], grads)
    _CELL_BACKWARD[cell](p, x, saved, d_out.reshape(hs[1:].shape), block_steps, grads, fused)
    return grads


def loss_and_grads(cell: str, p: Params, x: np.ndarray, targets: np.ndarray,
                   block_steps: int | None = None, fused: bool = False) -> tuple[float, Params]:
    """Forward and BPTT: the loss and d loss / d parameter for every name in PARAM_NAMES."""
    if cell not in GATES:
        raise ValueError(f"numpy_bptt: cell must be one of {CELLS}, got {cell!r}")
    loss, saved = forward(cell, p, x, targets, fused)
    return loss, backward(cell, p, x, targets, saved, block_steps, fused)


def saved_bytes(saved: Params) -> int:
    """Bytes of the activations backward keeps (no two entries share memory)."""
    arrays = list(saved.values())
    for k, a in enumerate(arrays):
        if any(np.shares_memory(a, b) for b in arrays[k + 1:]):
            raise ValueError("saved_bytes: two saved arrays share memory, the count would be wrong")
    return sum(a.nbytes for a in arrays)
