"""GRU with a softmax readout: the forward pass and BPTT by hand, in numpy.

Torch's form and gate order (r, z, n stacked in weight_ih (3H, D), weight_hh (3H, H)); the reset
gate scales the whole hidden projection of n, bias included:

    [ax_r ax_z ax_n] = W_ih x_t + b_ih       [ah_r ah_z ah_n] = W_hh h_{t-1} + b_hh
    r = sigmoid(ax_r + ah_r)   z = sigmoid(ax_z + ah_z)   n = tanh(ax_n + r * ah_n)
    h_t = (1 - z) * n + z * h_{t-1}          (z near 1 keeps the old state)
    L   = sum_t cross-entropy(softmax(V h_t + b_V), y_t)

(``ah_n`` is torch's W_hn h + b_hn, which ``mg.nn.gru_step`` calls ``h_n``; it is not torch's
``h_n``, the final hidden state a layer returns.)

Backward, for t = T..1, with dh_t already holding what the readout and step t+1 sent back:

    dn = dh_t * (1 - z)      dz = dh_t * (h_{t-1} - n)      dh_{t-1} = dh_t * z   (the direct path)
    da_n = dn * (1 - n^2)    dr = da_n * ah_n
    input side:  da_ih = [dr * r(1-r), dz * z(1-z), da_n]
    hidden side: da_hh = [dr * r(1-r), dz * z(1-z), da_n * r]     dh_{t-1} += W_hh^T da_hh
"""
from __future__ import annotations

import numpy as np

from ..ops import sigmoid_array as sigmoid
from .shared import add_step_grads, readout_backward, readout_forward

GATES = 3  # gates stacked in weight_ih and weight_hh, torch's layout


def forward(params: dict[str, np.ndarray], xs: np.ndarray, ys: np.ndarray,
            h0: np.ndarray) -> tuple[float, dict]:
    """Run the GRU over ``xs`` (T, B, D) from ``h0`` (B, H); return the loss and what backward needs."""
    h_list, gates = [h0], []
    for x in xs:
        ax_r, ax_z, ax_n = np.split(x @ params["weight_ih"].T + params["bias_ih"], 3, axis=-1)
        ah_r, ah_z, ah_n = np.split(h_list[-1] @ params["weight_hh"].T + params["bias_hh"], 3, axis=-1)
        r, z = sigmoid(ax_r + ah_r), sigmoid(ax_z + ah_z)
        n = np.tanh(ax_n + r * ah_n)
        h_list.append((1 - z) * n + z * h_list[-1])        # h_t = (1 - z) n + z h_{t-1}
        gates.append((r, z, n, ah_n))
    hs = np.stack(h_list)
    loss, probs = readout_forward(hs[1:], params["V"], params["b_V"], ys)
    return loss, {"xs": xs, "ys": ys, "hs": hs, "gates": gates, "probs": probs}


def backward(params: dict[str, np.ndarray], cache: dict) -> dict[str, np.ndarray]:
    """BPTT: dL/d(every parameter), and ``"h"``: dL/dh_t for t = 0..T, shape (T+1, B, H)."""
    xs, hs = cache["xs"], cache["hs"]
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dh = np.zeros_like(hs)
    dh[1:], grads["V"], grads["b_V"] = readout_backward(hs[1:], cache["probs"], cache["ys"], params["V"])
    for t in range(len(xs), 0, -1):
        r, z, n, ah_n = cache["gates"][t - 1]
        dn, dz = dh[t] * (1 - z), dh[t] * (hs[t - 1] - n)  # h_t = (1 - z) n + z h_{t-1}
        dh[t - 1] += dh[t] * z                             # the direct path: one multiply by the update gate
        da_n = dn * (1 - n ** 2)                           # n = tanh(ax_n + r ah_n)
        da_r, da_z = da_n * ah_n * r * (1 - r), dz * z * (1 - z)
        da_ih = np.concatenate([da_r, da_z, da_n], axis=-1)
        da_hh = np.concatenate([da_r, da_z, da_n * r], axis=-1)
        add_step_grads(grads, da_ih, da_hh, xs[t - 1], hs[t - 1])
        dh[t - 1] += da_hh @ params["weight_hh"]           # dh_{t-1} += W_hh^T da_hh
    grads["h"] = dh
    return grads
