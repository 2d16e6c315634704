"""LSTM with a softmax readout: the forward pass and BPTT by hand, in numpy.

Torch's form and gate order (i, f, g, o stacked in weight_ih (4H, D), weight_hh (4H, H)):

    [a_i a_f a_g a_o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)
    L   = sum_t cross-entropy(softmax(l_t), y_t),   l_t = V h_t + b_V  (l: o is the output gate)

Backward, for t = T..1, with dh_t and dc_t already holding what later steps sent back:

    dc_t += dh_t * o * (1 - tanh(c_t)^2)         (c_t reaches L through h_t and through c_{t+1})
    do = dh_t * tanh(c_t)    di = dc_t * g    dg = dc_t * i    df = dc_t * c_{t-1}
    dc_{t-1} = dc_t * f                         (the cell path: one multiply by the forget gate)
    da = [di * i(1-i), df * f(1-f), dg * (1-g^2), do * o(1-o)]
    dh_{t-1} += W_hh^T da,  and the shared weights collect da as in the RNN
"""
from __future__ import annotations

import numpy as np

from ..ops import sigmoid_array as sigmoid
from .shared import add_step_grads, readout_backward, readout_forward

GATES = 4  # gates stacked in weight_ih and weight_hh, torch's layout


def forward(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray, h0: np.ndarray,
            c0: np.ndarray) -> tuple[float, dict]:
    """Run the LSTM over ``xs`` (T, B, D) from (``h0``, ``c0``); return the loss and what backward needs."""
    h_list, c_list, gates = [h0], [c0], []
    for x in xs:
        a = x @ params["weight_ih"].T + params["bias_ih"] + h_list[-1] @ params["weight_hh"].T + params["bias_hh"]
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=-1)
        i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
        c_list.append(f * c_list[-1] + i * g)              # c_t = f c_{t-1} + i g
        h_list.append(o * np.tanh(c_list[-1]))             # h_t = o tanh(c_t)
        gates.append((i, f, g, o))
    hs, cs = np.stack(h_list), np.stack(c_list)
    loss, probs = readout_forward(hs[1:], params["V"], params["b_V"], ys)
    return loss, {"xs": xs, "ys": ys, "hs": hs, "cs": cs, "gates": gates, "probs": probs}


def backward(params: dict[str, np.ndarray], cache: dict) -> dict[str, np.ndarray]:
    """BPTT: dL/d(every parameter), and ``"h"``, ``"c"``: dL/dh_t and dL/dc_t for t = 0..T."""
    xs, hs, cs = cache["xs"], cache["hs"], cache["cs"]
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dh, dc = np.zeros_like(hs), np.zeros_like(cs)
    dh[1:], grads["V"], grads["b_V"] = readout_backward(hs[1:], cache["probs"], cache["ys"], params["V"])
    for t in range(len(xs), 0, -1):
        i, f, g, o = cache["gates"][t - 1]
        tanh_c = np.tanh(cs[t])
        dc[t] += dh[t] * o * (1 - tanh_c ** 2)             # h_t = o tanh(c_t)
        do = dh[t] * tanh_c
        di, dg, df = dc[t] * g, dc[t] * i, dc[t] * cs[t - 1]   # c_t = f c_{t-1} + i g
        dc[t - 1] = dc[t] * f                              # the cell path: one multiply by the forget gate
        # through the gate nonlinearities: sigmoid' = s (1 - s), tanh' = 1 - tanh^2
        da = np.concatenate([di * i * (1 - i), df * f * (1 - f), dg * (1 - g ** 2), do * o * (1 - o)], axis=-1)
        add_step_grads(grads, da, da, xs[t - 1], hs[t - 1])
        dh[t - 1] += da @ params["weight_hh"]              # dh_{t-1} += W_hh^T da_t
    grads["h"], grads["c"] = dh, dc
    return grads
