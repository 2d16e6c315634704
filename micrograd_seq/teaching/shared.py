"""What the three hand derivations share: the softmax readout and the sums over time of the shared weights.

Every model here reads its hidden states out the same way, so each is a complete
"sequence in, loss out" computation:

    l_t = V h_t + b_V                        the logits (l, not o: o is the LSTM's output gate)
    L   = sum_t -log softmax(l_t)[y_t]       cross-entropy summed over time (and the batch)

The equations in these files are the textbook's, for one sequence of column vectors. The code
runs a batch of row vectors, so W x is written ``x @ W.T`` and V^T dl_t is ``dlogits @ V``.
"""
from __future__ import annotations

import numpy as np


def readout_forward(hs: np.ndarray, V: np.ndarray, b_V: np.ndarray, ys: np.ndarray) -> tuple[float, np.ndarray]:
    """The loss L of hidden states ``hs`` (T, B, H) against classes ``ys`` (T, B), and softmax(l_t) (T, B, K)."""
    logits = hs @ V.T + b_V                                # l_t = V h_t + b_V
    logits = logits - logits.max(axis=-1, keepdims=True)   # softmax ignores a shift; now exp cannot overflow
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    loss = -np.take_along_axis(log_p, ys[..., None], axis=-1).sum()
    return float(loss), np.exp(log_p)


def readout_backward(hs: np.ndarray, probs: np.ndarray, ys: np.ndarray,
                     V: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The readout's share of dL/dh_t (T, B, H), and dL/dV, dL/db_V summed over t."""
    dlogits = probs - np.eye(probs.shape[-1])[ys]          # dL/dl_t = softmax(l_t) - y_t  (y_t one-hot)
    dV = np.einsum("tbk,tbh->kh", dlogits, hs)             # dL/dV = sum_t dl_t h_t^T
    db_V = dlogits.sum(axis=(0, 1))                        # dL/db_V = sum_t dl_t
    return dlogits @ V, dV, db_V                           # V^T dl_t, in row-vector form


def add_step_grads(grads: dict[str, np.ndarray], da_ih: np.ndarray, da_hh: np.ndarray,
                   x: np.ndarray, h_prev: np.ndarray) -> None:
    """Add one time step's contribution to the shared weights: BPTT sums these over t.

    ``da_ih`` and ``da_hh`` are dL/d(W_ih x_t + b_ih) and dL/d(W_hh h_{t-1} + b_hh); they
    are the same array except in the GRU, whose reset gate scales the hidden side of n, so
    dW_hh must be summed from the hidden side's gradient, not the input side's.
    """
    grads["weight_ih"] += da_ih.T @ x                      # dW_ih += da_t x_t^T
    grads["weight_hh"] += da_hh.T @ h_prev                 # dW_hh += da_t h_{t-1}^T
    grads["bias_ih"] += da_ih.sum(axis=0)
    grads["bias_hh"] += da_hh.sum(axis=0)
