"""Vanilla (Elman, tanh) RNN with a softmax readout: the forward pass and BPTT by hand, in numpy.

Torch's names and shapes: weight_ih W_ih (H, D), weight_hh W_hh (H, H), readout V (K, H).
Forward, for t = 1..T:

    a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    h_t = tanh(a_t)
    l_t = V h_t + b_V,   L = sum_t cross-entropy(softmax(l_t), y_t)

Backward, for t = T..1 (the min-char-rnn recurrence, with dh_{T+1} = 0):

    dl_t = softmax(l_t) - y_t
    dh_t = V^T dl_t + W_hh^T (dh_{t+1} * (1 - h_{t+1}^2))
    da_t = dh_t * (1 - h_t^2)
    dW_ih = sum_t da_t x_t^T,  dW_hh = sum_t da_t h_{t-1}^T,  db_ih = db_hh = sum_t da_t

The loop below adds the second term of dh_{t-1} while it is at step t, so dh_{t-1} is complete
when the loop gets there: the order ``backward()`` follows too.
"""
from __future__ import annotations

import numpy as np

from .shared import add_step_grads, readout_backward, readout_forward

GATES = 1  # gates stacked in weight_ih and weight_hh, torch's layout


def forward(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray,
            h0: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """Run the RNN over ``xs`` (T, B, D) from ``h0`` (B, H); return the loss and what backward needs."""
    states = [h0]
    for x in xs:
        a = x @ params["weight_ih"].T + params["bias_ih"] + states[-1] @ params["weight_hh"].T + params["bias_hh"]
        states.append(np.tanh(a))                          # h_t = tanh(a_t)
    hs = np.stack(states)                                  # hs[t] = h_t, hs[0] = h_0
    loss, probs = readout_forward(hs[1:], params["V"], params["b_V"], ys)
    return loss, {"xs": xs, "ys": ys, "hs": hs, "probs": probs}


def backward(params: dict[str, np.ndarray], cache: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """BPTT: dL/d(every parameter), and ``"h"``: dL/dh_t for t = 0..T, shape (T+1, B, H)."""
    xs, hs = cache["xs"], cache["hs"]
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dh = np.zeros_like(hs)
    dh[1:], grads["V"], grads["b_V"] = readout_backward(hs[1:], cache["probs"], cache["ys"], params["V"])
    for t in range(len(xs), 0, -1):
        # dh[t] is complete here: h_t feeds only l_t and step t+1, both already visited.
        da = dh[t] * (1 - hs[t] ** 2)                      # da_t = dh_t * tanh'(a_t)
        add_step_grads(grads, da, da, xs[t - 1], hs[t - 1])
        dh[t - 1] += da @ params["weight_hh"]              # dh_{t-1} += W_hh^T da_t
    grads["h"] = dh
    return grads
