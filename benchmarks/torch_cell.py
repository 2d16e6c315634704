"""The same model in PyTorch, twice: autograd over the primitive cell written like ours, and torch.nn's fused layer.

``PrimitiveModel`` is micrograd_seq's layer op for op: one matmul projects the input sequence,
then a Python loop of ``h @ W_hh.T`` + projection, chunk, sigmoid/tanh and mul, a linear head
and cross-entropy summed over time. It is the peer an engine on numpy should beat: the same
graph, recorded by torch's C++ autograd. (The time steps of the projection are taken with one
``unbind``: indexing ``x_proj[t]`` in torch makes each step's backward allocate and fill a
gradient the size of the whole sequence, quadratic in T, 40x slower at T = 1000.)
``FusedModel`` is torch.nn.RNN/LSTM/GRU + Linear.
Both take numpy parameters in numpy_bptt's names and return gradients under the same names.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PrimitiveModel", "FusedModel"]


def rnn_step(x_proj: torch.Tensor, h: torch.Tensor, w_hh_t: torch.Tensor, b_hh: torch.Tensor) -> tuple:
    return (torch.tanh(x_proj + h @ w_hh_t + b_hh),)


def lstm_step(x_proj: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hh_t: torch.Tensor,
              b_hh: torch.Tensor) -> tuple:
    i, f, g, o = (x_proj + h @ w_hh_t + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def gru_step(x_proj: torch.Tensor, h: torch.Tensor, w_hh_t: torch.Tensor, b_hh: torch.Tensor) -> tuple:
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)
    h_r, h_z, h_n = (h @ w_hh_t + b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return ((1 - z) * n + z * h,)


_STEPS = {"rnn": rnn_step, "lstm": lstm_step, "gru": gru_step}


class _TorchModel:
    """Shared: parameters as torch leaves, inputs converted once, gradients read back as numpy."""

    def __init__(self, cell: str, params: dict[str, np.ndarray], x: np.ndarray, targets: np.ndarray) -> None:
        self.cell = cell
        self.x = torch.from_numpy(x)
        self.targets = torch.from_numpy(targets.reshape(-1).astype(np.int64))
        self.params = self._make_params(params)

    def _make_params(self, params: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        return {name: torch.tensor(value, requires_grad=True) for name, value in params.items()}

    def loss(self) -> torch.Tensor:
        raise NotImplementedError

    def head_loss(self, hs: torch.Tensor) -> torch.Tensor:
        logits = F.linear(hs.reshape(-1, hs.shape[-1]), self.params["head.weight"], self.params["head.bias"])
        return F.cross_entropy(logits, self.targets, reduction="sum")

    def forward(self) -> torch.Tensor:
        """The loss, recorded from fresh gradients."""
        for p in self.params.values():
            p.grad = None
        return self.loss()

    def backward(self, loss: torch.Tensor) -> float:
        loss.backward()
        return loss.item()

    def step(self) -> float:
        """Forward and backward once, from fresh gradients; returns the loss."""
        return self.backward(self.forward())

    def grads(self) -> dict[str, np.ndarray]:
        return {name: p.grad.numpy() for name, p in self.params.items()}


class PrimitiveModel(_TorchModel):
    """torch autograd over the cell written from primitives, unrolled by a Python loop (as ours)."""

    name = "torch autograd"

    def loss(self) -> torch.Tensor:
        p = self.params
        x_proj = self.x @ p["weight_ih"].T + p["bias_ih"]
        w_hh_t = p["weight_hh"].T
        zeros = torch.zeros(self.x.shape[1], w_hh_t.shape[0], dtype=self.x.dtype)
        state = (zeros, zeros) if self.cell == "lstm" else (zeros,)
        step = _STEPS[self.cell]
        outputs = []
        for x_t in x_proj.unbind(0):  # not x_proj[t]: each select's backward would fill a (T, B, G*H) buffer
            state = step(x_t, *state, w_hh_t, p["bias_hh"])
            outputs.append(state[0])
        return self.head_loss(torch.stack(outputs))


class FusedModel(_TorchModel):
    """torch.nn.RNN/LSTM/GRU (one fused C++ layer) and the same head."""

    name = "torch.nn fused"

    def _make_params(self, params: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        layer_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[self.cell]
        hidden, inputs = params["weight_hh"].shape[1], params["weight_ih"].shape[1]
        self.layer = layer_class(inputs, hidden, dtype=torch.from_numpy(params["weight_hh"]).dtype)
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(self.layer, f"{name}_l0").copy_(torch.from_numpy(params[name]))
        own = {name: getattr(self.layer, f"{name}_l0") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        own.update({name: torch.tensor(params[name], requires_grad=True) for name in ("head.weight", "head.bias")})
        return own

    def loss(self) -> torch.Tensor:
        hs, _ = self.layer(self.x)
        return self.head_loss(hs)
