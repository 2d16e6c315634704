"""A zoo of recurrent cells from the literature, each a few lines of primitives that read like its paper.

Every cell is a ``RecurrentCell`` written the way a user would write one (``forward`` only, no
speed hooks), registered in ``mg.nn.CELLS`` and run over sequences by ``mg.nn.Recurrent``::

    layer = mg.nn.Recurrent(mg.nn.zoo.PeepholeLSTMCell, input_size=3, hidden_size=8, num_layers=2)

Shapes, as for every cell: x (B, input_size) in; each state (B, hidden_size) in and out (``h``,
or ``(h, c)`` for the LSTMs). Weights are drawn from U(-1/sqrt(H), 1/sqrt(H)) as torch initialises
its cells, except where a paper says otherwise. Gates are stacked in the weights in the order the
equations list them.
docs/cells.md draws each one unrolled and gradchecks it.
"""
from __future__ import annotations

import math

import numpy as np

from ..random import generator
from ..tensor import Tensor
from .cell import RecurrentCell, register_cell
from .layers import uniform_parameter
from .module import Parameter
from .normalization import LayerNorm

__all__ = ["PeepholeLSTMCell", "CIFGLSTMCell", "ChoGRUCell", "MGUCell", "IndRNNCell", "JANETCell",
           "LayerNormLSTMCell"]


def _weights(input_size: int, hidden_size: int, gates: int, biases: int = 2) -> tuple[Parameter, ...]:
    """weight_ih (gates*H, D), weight_hh (gates*H, H) and ``biases`` biases (gates*H,), ~ U(-1/sqrt(H), 1/sqrt(H))."""
    rows, bound = gates * hidden_size, 1.0 / math.sqrt(hidden_size)
    return (uniform_parameter((rows, input_size), bound), uniform_parameter((rows, hidden_size), bound),
            *(uniform_parameter((rows,), bound) for _ in range(biases)))


class PeepholeLSTMCell(RecurrentCell):
    r"""LSTM with peephole connections: the gates see the cell state (Gers, Schraudolph & Schmidhuber 2002,
    "Learning precise timing with LSTM recurrent networks", JMLR 3).

        i = σ(W_i x + R_i h + p_i ⊙ c + b_i)          f = σ(W_f x + R_f h + p_f ⊙ c + b_f)
        c' = f ⊙ c + i ⊙ tanh(W_g x + R_g h + b_g)
        o = σ(W_o x + R_o h + p_o ⊙ c' + b_o)         h' = o ⊙ tanh(c')

    LSTMCell's parameters (gates i, f, g, o) plus the diagonal peepholes ``peephole_i``,
    ``peephole_f``, ``peephole_o`` (H,). The output gate peeks at the new cell state.
    """

    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh = _weights(input_size, hidden_size, 4)
        bound = 1.0 / math.sqrt(hidden_size)
        self.peephole_i, self.peephole_f, self.peephole_o = (uniform_parameter((hidden_size,), bound) for _ in "ifo")

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        i, f, g, o = gates.chunk(4, axis=-1)
        i = (i + self.peephole_i * c).sigmoid().named("input gate")
        f = (f + self.peephole_f * c).sigmoid().named("forget gate")
        c = (f * c + i * g.tanh()).named("cell")
        o = (o + self.peephole_o * c).sigmoid().named("output gate")
        return (o * c.tanh()).named("hidden"), c


class CIFGLSTMCell(RecurrentCell):
    r"""LSTM with coupled input and forget gates, f = 1 - i: what the input writes, the cell forgets
    (the CIFG variant of Greff et al. 2017, "LSTM: A Search Space Odyssey", here without peepholes).

        i = σ(W_i x + R_i h + b_i)      g = tanh(W_g x + R_g h + b_g)      o = σ(W_o x + R_o h + b_o)
        c' = (1 - i) ⊙ c + i ⊙ g        h' = o ⊙ tanh(c')

    Gates i, g, o stacked in weight_ih (3H, D) and weight_hh (3H, H).
    """

    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh = _weights(input_size, hidden_size, 3)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        i, g, o = (x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh).chunk(3, axis=-1)
        i = i.sigmoid().named("input gate")
        c = ((1 - i) * c + i * g.tanh()).named("cell")
        return (o.sigmoid().named("output gate") * c.tanh()).named("hidden"), c


class ChoGRUCell(RecurrentCell):
    r"""The GRU as Cho et al. (2014) wrote it, "Learning phrase representations using RNN encoder-decoder
    for statistical machine translation", with the reset gate applied to h *before* the matmul:

        r = σ(W_r x + U_r h + b_r)        z = σ(W_z x + U_z h + b_z)
        h̃ = tanh(W x + U (r ⊙ h) + b)     h' = z ⊙ h + (1 - z) ⊙ h̃

    torch.nn.GRU resets after it, r ⊙ (U h + b_hn): the same weights (torch's layout, gates
    r, z, n) give different numbers. docs/cells.md measures by how much.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh = _weights(input_size, hidden_size, 3)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        H = self.hidden_size
        x_r, x_z, x_n = (x @ self.weight_ih.T + self.bias_ih).chunk(3, axis=-1)
        h_r, h_z = (h @ self.weight_hh[:2 * H].T + self.bias_hh[:2 * H]).chunk(2, axis=-1)
        r = (x_r + h_r).sigmoid().named("reset gate")
        z = (x_z + h_z).sigmoid().named("update gate")
        n = (x_n + (r * h) @ self.weight_hh[2 * H:].T + self.bias_hh[2 * H:]).tanh().named("candidate")
        return (z * h + (1 - z) * n).named("hidden")


class MGUCell(RecurrentCell):
    r"""Minimal gated unit: one gate, f, does the work of the GRU's two (Zhou, Wu, Zhang & Zhou 2016,
    "Minimal gated unit for recurrent neural networks", IJAC 13).

        f = σ(W_f x + U_f h + b_f)
        h̃ = tanh(W_h x + U_h (f ⊙ h) + b_h)
        h' = (1 - f) ⊙ h + f ⊙ h̃

    Gates f, h̃ stacked in weight_ih (2H, D) and weight_hh (2H, H); one bias (2H,).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih, self.weight_hh, self.bias = _weights(input_size, hidden_size, 2, biases=1)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        H = self.hidden_size
        x_f, x_h = (x @ self.weight_ih.T + self.bias).chunk(2, axis=-1)
        f = (x_f + h @ self.weight_hh[:H].T).sigmoid().named("forget gate")
        candidate = (x_h + (f * h) @ self.weight_hh[H:].T).tanh().named("candidate")
        return ((1 - f) * h + f * candidate).named("hidden")


class IndRNNCell(RecurrentCell):
    r"""Independently recurrent network: each unit sees only its own past, through one weight
    (Li, Li, Cook, Zhu & Gao 2018, "Independently recurrent neural network (IndRNN)", CVPR).

        h' = relu(W x + u ⊙ h + b)

    ``weight_hh`` is the vector u (H,), drawn from U(0, 1) so that no unit's recurrence grows
    without bound at the start; ``weight_ih`` (H, D) and ``bias_ih`` (H,) as torch's RNNCell.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        bound = 1.0 / math.sqrt(hidden_size)
        self.weight_ih = uniform_parameter((hidden_size, input_size), bound)
        self.weight_hh = Parameter(generator().uniform(0.0, 1.0, hidden_size))
        self.bias_ih = uniform_parameter((hidden_size,), bound)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return (x @ self.weight_ih.T + self.weight_hh * h + self.bias_ih).relu().named("hidden")


class JANETCell(RecurrentCell):
    r"""JANET, the LSTM with a forget gate only (van der Westhuizen & Lasenby 2018, "The unreasonable
    effectiveness of the forget gate"):

        s = W_f x + U_f h + b_f
        c̃ = tanh(W_c x + U_c h + b_c)
        c' = σ(s) ⊙ c + (1 - σ(s - β)) ⊙ c̃        h' = c'

    β = 1 by default. Gates f, c̃ stacked in weight_ih (2H, D) and weight_hh (2H, H); one bias
    (2H,). With ``t_max`` the biases are chrono-initialised as in the paper: b_f = log(U(1,
    t_max - 1)), b_c = 0, so the cell starts out remembering over about t_max steps.
    """

    def __init__(self, input_size: int, hidden_size: int, beta: float = 1.0, t_max: int | None = None) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih, self.weight_hh, self.bias = _weights(input_size, hidden_size, 2, biases=1)
        self.beta = float(beta)
        if t_max is not None:
            if t_max <= 2:
                raise ValueError(f"JANETCell: t_max must be greater than 2, got {t_max!r}")
            b_f = np.log(generator().uniform(1.0, t_max - 1.0, hidden_size))
            self.bias = Parameter(np.concatenate([b_f, np.zeros(hidden_size)]))

    def forward(self, x: Tensor, c: Tensor) -> Tensor:  # the state is the cell, which is also the output
        s, u = (x @ self.weight_ih.T + c @ self.weight_hh.T + self.bias).chunk(2, axis=-1)
        candidate = u.tanh().named("candidate")
        return (s.sigmoid().named("forget gate") * c + (1 - (s - self.beta).sigmoid()) * candidate).named("hidden")


class LayerNormLSTMCell(RecurrentCell):
    r"""Layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer normalization", eq. 20-22):

        (i, f, g, o) = LN(W_h h; α_1) + LN(W_x x; α_2) + b
        c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)
        h' = σ(o) ⊙ tanh(LN(c'; α_3, β_3))

    ``ln_hh``, ``ln_ih`` (4H, gains only: their biases would just add to b) and ``ln_c`` (H) are
    ``mg.nn.LayerNorm`` modules; gates i, f, g, o stacked in weight_ih (4H, D), weight_hh (4H, H).
    """

    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.weight_ih, self.weight_hh, self.bias = _weights(input_size, hidden_size, 4, biases=1)
        self.ln_hh, self.ln_ih = LayerNorm(4 * hidden_size, bias=False), LayerNorm(4 * hidden_size, bias=False)
        self.ln_c = LayerNorm(hidden_size)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = state
        gates = self.ln_hh(h @ self.weight_hh.T) + self.ln_ih(x @ self.weight_ih.T) + self.bias
        i, f, g, o = gates.chunk(4, axis=-1)
        c = (f.sigmoid() * c + i.sigmoid() * g.tanh()).named("cell")
        return (o.sigmoid() * self.ln_c(c).tanh()).named("hidden"), c


for _name, _cell in (("peephole_lstm", PeepholeLSTMCell), ("cifg_lstm", CIFGLSTMCell), ("cho_gru", ChoGRUCell),
                     ("mgu", MGUCell), ("indrnn", IndRNNCell), ("janet", JANETCell), ("ln_lstm", LayerNormLSTMCell)):
    register_cell(_name, _cell)
