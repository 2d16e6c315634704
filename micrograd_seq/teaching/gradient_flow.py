"""Gradient flow through time: how much of dL/dh_T survives the way back to h_t.

BPTT multiplies the gradient by one Jacobian dh_{k+1}/dh_k per step. For a tanh RNN that
is diag(1 - h_{k+1}^2) W_hh: products of them shrink geometrically when W_hh is small
(vanishing gradients) and can grow when it is large (exploding gradients). Gates give the
gradient a path that is multiplied by a gate value instead (f in the LSTM's cell, z in the
GRU), which the network can hold near 1.

Hidden states are numbered h_0 (the initial state) to h_T. For the LSTM the state
differentiated is h_t with c_t held fixed (c_t is carried along as the layer carries it);
h_t still reaches h_T through every later h and c. The same holds for any cell: h is the first
of its ``state_names``, the others are carried along.

``layer`` is a one-layer, one-direction recurrent layer (``mg.nn.RNN``, ``LSTM``, ``GRU`` or
``Recurrent`` over a cell of your own) or a ``RecurrentCell``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .. import ops
from ..tensor import Tensor, get_default_dtype
from .unroll import check_layer, initial_state, unroll


def _sequence(owner: str, layer: Any, x: Any) -> tuple[Tensor, bool]:
    """``x`` as a time-first (T, B, D) tensor in the layer's dtype, and whether it came unbatched as (T, D)."""
    cell = check_layer(owner, layer)
    dtype = next((p.dtype for p in cell.parameters()), get_default_dtype())
    x = Tensor(x.data if isinstance(x, Tensor) else x, dtype=dtype)
    if x.ndim not in (2, 3) or x.shape[-1] != cell.input_size or x.shape[0] == 0:
        raise ValueError(f"{owner}: expected x of shape (T, B, {cell.input_size}) or (T, {cell.input_size}) "
                         f"with T >= 1, got {x.shape}")
    return (x[:, None, :], True) if x.ndim == 2 else (x, False)


def _start(owner: str, layer: Any, x: Any, state: Any) -> tuple[list, bool]:
    """Unroll ``layer`` over ``x`` from ``state`` with constant weights; the states require grad."""
    x, unbatched = _sequence(owner, layer, x)
    if unbatched and state is not None:  # one sequence: give its state a batch axis of 1
        state = [np.asarray(s)[None] for s in state] if isinstance(state, (tuple, list)) else np.asarray(state)[None]
    states = unroll(layer, x, initial_state(owner, layer, x.shape[1], state, x.dtype), constant_weights=True)
    for h, *_ in states[1:]:
        h.retain_grad()
    return states, unbatched


def hidden_grad_norms(layer: Any, x: Any, loss_fn: Callable[[Tensor], Tensor], state: Any = None) -> np.ndarray:
    """||dL/dh_t|| for t = 0..T, where L = loss_fn(output) and output (T, B, H) is what layer(x) returns.

    The norm is the Frobenius norm over the batch and hidden units. The layer's weights are
    held constant (their ``.grad`` is left alone); parameters inside ``loss_fn`` do receive
    gradients, as from any ``backward()``.
    """
    states, unbatched = _start("hidden_grad_norms", layer, x, state)
    output = ops.stack([h for h, *_ in states[1:]])
    loss = loss_fn(output[:, 0] if unbatched else output)
    if not isinstance(loss, Tensor) or loss.numel() != 1:
        got = f"a tensor of shape {loss.shape}" if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(f"hidden_grad_norms: loss_fn must return a one-element tensor, got {got}")
    loss.backward()
    # In float64: squaring a float32 gradient of 1e-23 would underflow to a norm of 0.
    return np.array([0.0 if h.grad is None else np.linalg.norm(h.grad.astype(np.float64)) for h, *_ in states])


def jacobians(layer: Any, x: Any, state: Any = None) -> np.ndarray:
    """The Jacobians dh_T/dh_t for t = 0..T: shape (T+1, H, H) for x (T, D), (T+1, B, H, H) for x (T, B, D).

    Exact, by reverse mode: backward from h_T seeded with unit vector e_j gives row j of every
    dh_T/dh_t at once, so H backward passes give them all.
    """
    states, unbatched = _start("jacobians", layer, x, state)
    hs = [h for h, *_ in states]
    hs[-1].retain_grad()
    T, (B, H) = len(hs) - 1, hs[0].shape
    result = np.zeros((T + 1, B, H, H))
    for j in range(H):
        for h in hs:
            h.grad = None
        seed = np.zeros((B, H))
        seed[:, j] = 1.0
        hs[-1].backward(seed, retain_graph=True)
        for t, h in enumerate(hs):
            if h.grad is not None:
                result[t, :, j, :] = h.grad                # row j: d h_T[j] / d h_t
    return result[:, 0] if unbatched else result


def jacobian_norms(layer: Any, x: Any, state: Any = None) -> np.ndarray:
    """Spectral norms ||dh_T/dh_t||_2 for t = 0..T: the most a nudge to h_t can grow or shrink by h_T."""
    return np.linalg.norm(jacobians(layer, x, state).astype(np.float64), ord=2, axis=(-2, -1))


def plot_gradient_flow(layers: Mapping[str, Any], x: Any, loss_fn: Callable[[Tensor], Tensor],
                       path: str | Path, title: str = "") -> Path:
    """Save a figure of ||dL/dh_t|| and ||dh_T/dh_t|| against t, one line per named layer, log scale.

    The Jacobian panel shows the mean over the batch of each sequence's spectral norm.
    """
    try:
        from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state
    except ImportError:
        raise ImportError("plot_gradient_flow needs matplotlib: pip install 'micrograd-seq[examples]'") from None
    fig = Figure(figsize=(11, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    for name, layer in layers.items():
        grads = hidden_grad_norms(layer, x, loss_fn)
        norms = jacobian_norms(layer, x)
        left.semilogy(np.arange(len(grads)), grads, label=name)
        right.semilogy(np.arange(len(norms)), norms.mean(axis=-1) if norms.ndim == 2 else norms, label=name)
    left.set(xlabel="time step t", ylabel="||dL/dh_t||", title="gradient of the loss at each hidden state")
    right.set(xlabel="time step t", ylabel="||dh_T/dh_t||  (spectral norm)", title="Jacobian of the last state")
    for ax in (left, right):
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
