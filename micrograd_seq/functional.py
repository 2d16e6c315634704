"""Losses, activations and the embedding lookup built from the primitive ops (their gradients come from
the ops'), with torch.nn.functional's names, arguments and reductions."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import ops
from ._args import integer, real
from .tensor import Tensor, as_tensor_like, to_numpy

__all__ = ["softmax", "log_softmax", "relu", "tanh", "sigmoid", "logsigmoid", "nll_loss", "cross_entropy", "mse_loss",
           "binary_cross_entropy_with_logits", "embedding"]

_REDUCTIONS = ("mean", "sum", "none")


def softmax(input: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim`` (or numpy's ``axis=``; the last axis by default), without overflow."""
    return ops.softmax(_input("softmax", input), ops.one_spelling("softmax", axis, dim, -1))


def log_softmax(input: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """log(softmax(x)) along ``dim`` (or ``axis=``; the last axis by default), stable for any finite input."""
    return ops.log_softmax(_input("log_softmax", input), ops.one_spelling("log_softmax", axis, dim, -1))


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0) elementwise (``inplace`` is accepted for torch's signature; the input is never changed)."""
    return _input("relu", input).relu()


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent, elementwise."""
    return _input("tanh", input).tanh()


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)) elementwise, without overflow for any finite x.

    Below about -88 (float32) or -709 (float64) it stops at the dtype's smallest value, so
    ``sigmoid(x).log()`` bottoms out there (-88 in float32 where the truth may be -100): use
    ``logsigmoid`` for log-probabilities.
    """
    return _input("sigmoid", input).sigmoid()


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -log(1 + exp(-x)) elementwise, exact for every finite x (torch's logsigmoid)."""
    return ops.logsigmoid(_input("logsigmoid", input))


# ---- losses ---------------------------------------------------------------------

def _input(fn: str, x: Any) -> Tensor:
    """The input of ``fn``: a floating Tensor (an array is refused rather than silently left out of the graph)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(x).__name__} (wrap data with mg.tensor(x))")
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be a floating tensor, got dtype {x.dtype}")
    return x


def _reduction(fn: str, size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """``reduction``, or the one torch's deprecated ``size_average`` / ``reduce`` flags ask for (with a warning)."""
    if size_average is not None or reduce is not None:
        keep_batch = reduce is None or reduce
        reduction = ("mean" if size_average is None or size_average else "sum") if keep_batch else "none"
        warnings.warn(f"{fn}: size_average and reduce are deprecated, use reduction={reduction!r} instead",
                      UserWarning, stacklevel=3)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str, total: Any = None) -> Tensor:
    """Reduce a per-element loss: ``total`` divides the sum for "mean" (default: the count)."""
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if (loss.data.size if total is None else total) == 0:  # torch's mean over nothing: nan, zero gradients
        return loss.sum() * 0.0 + np.nan
    return loss.mean() if total is None else loss.sum() / total


def _class_rows(fn: str, x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """``x`` with its class dimension (1, or 0 when unbatched) moved last and flattened to (rows, C),
    and the shape of one value per row (torch's target shape)."""
    if x.ndim == 0:
        raise ValueError(f"{fn}: input must have a class dimension, (C,), (N, C) or (N, C, d1, ...), got shape ()")
    if x.ndim == 1:
        return x.reshape(1, -1), ()
    if x.ndim == 2:
        return x, (x.shape[0],)
    order = (0,) + tuple(range(2, x.ndim)) + (1,)
    rows = x.transpose(order).reshape(-1, x.shape[1])
    return rows, (x.shape[0],) + x.shape[2:]


def _class_weight(fn: str, weight: Any, classes: int, dtype: np.dtype) -> np.ndarray | None:
    if weight is None:
        return None
    w = to_numpy(weight)
    if w.shape != (classes,) or w.dtype.kind not in "fiu":
        raise ValueError(f"{fn}: weight must hold one number per class, shape ({classes},), got "
                         f"{w.dtype} of shape {w.shape}")
    return w.astype(dtype)


def _class_targets(fn: str, target: Any, shape: tuple[int, ...], classes: int, ignore_index: int) -> np.ndarray:
    """Integer class targets as one flat array of rows, checked against the input's shape and classes."""
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: target must hold integer class indices (or, for cross_entropy, class "
                        f"probabilities of the input's shape), got dtype {t.dtype}")
    if t.shape != shape and not (shape == () and t.shape == (1,)):
        raise ValueError(f"{fn}: target of shape {t.shape} does not match input of batch shape {shape}")
    t = t.reshape(-1)
    kept = t[t != ignore_index]
    if kept.size and (kept.min() < 0 or kept.max() >= classes):
        raise ValueError(f"{fn}: target must lie in [0, {classes}) (or equal ignore_index={ignore_index}), "
                         f"got values from {kept.min()} to {kept.max()}")
    return t


def _nll_rows(logp: Tensor, t: np.ndarray, weight: np.ndarray | None, ignore_index: int, reduction: str,
              shape: tuple[int, ...]) -> Tensor:
    """-weight[t] * logp[row, t] per row, ignored rows adding nothing, reduced as torch's nll_loss."""
    keep = t != ignore_index
    safe = np.where(keep, t, 0)
    picked = logp[np.arange(len(t)), safe]
    scale = None
    if weight is not None:
        scale = weight[safe] * keep
    elif not keep.all():
        scale = keep
    if scale is not None:
        picked = picked * scale
    loss = -picked
    if reduction == "none":
        return loss.reshape(shape)
    return _reduce(loss, reduction, None if scale is None else scale.sum())


def nll_loss(input: Tensor, target: Any, weight: Any = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class ``target`` under log-probabilities ``input``, as torch's.

    ``input`` is (N, C), (C,) or (N, C, d1, ...) with ``target`` (N,), () or (N, d1, ...). ``weight`` (C,)
    scales each class, and the mean divides by the summed weights of the targets; targets equal to
    ``ignore_index`` add nothing.
    """
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    rows, shape = _class_rows("nll_loss", _input("nll_loss", input))
    classes = rows.shape[1]
    t = _class_targets("nll_loss", target, shape, classes, ignore_index)
    return _nll_rows(rows, t, _class_weight("nll_loss", weight, classes, rows.dtype), ignore_index, reduction,
                     shape)


def cross_entropy(input: Tensor, target: Any, weight: Any = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of ``target`` under ``log_softmax(input)`` over the class dimension, as torch's.

    ``target`` holds integer class indices (as ``nll_loss``; ``ignore_index`` and ``weight`` apply) or,
    when floating, class probabilities of ``input``'s shape. ``label_smoothing`` mixes the targets with
    the uniform distribution over the classes.
    """
    reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    label_smoothing = real("cross_entropy", "label_smoothing", label_smoothing, low=0, high=1)
    rows, shape = _class_rows("cross_entropy", _input("cross_entropy", input))
    classes = rows.shape[1]
    w = _class_weight("cross_entropy", weight, classes, rows.dtype)
    logp = ops.log_softmax(rows, axis=1)
    target_data = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target_data.dtype.kind == "f":
        return _soft_cross_entropy(logp, input, target, w, label_smoothing, reduction, shape)
    t = _class_targets("cross_entropy", target, shape, classes, ignore_index)
    nll = _nll_rows(logp, t, w, ignore_index, reduction, shape)
    if not label_smoothing:
        return nll
    keep = t != ignore_index
    smooth = -(logp * w if w is not None else logp).sum(axis=1)
    if not keep.all():
        smooth = smooth * keep
    if reduction == "none":
        smooth = smooth.reshape(shape)
    else:
        smooth = _reduce(smooth, reduction, (w[t[keep]].sum() if w is not None else int(keep.sum())))
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / classes)


def _soft_cross_entropy(logp: Tensor, input: Tensor, target: Any, weight: np.ndarray | None,
                        label_smoothing: float, reduction: str, shape: tuple[int, ...]) -> Tensor:
    """Cross-entropy against class probabilities: -sum_c target_c log p_c per row."""
    target = as_tensor_like(target, input)
    if target.shape != input.shape:
        raise ValueError(f"cross_entropy: class-probability target of shape {target.shape} does not match "
                         f"input of shape {input.shape}")
    probs, _ = _class_rows("cross_entropy", target)
    classes = logp.shape[1]
    if label_smoothing:
        probs = probs * (1 - label_smoothing) + label_smoothing / classes
    terms = logp * probs
    loss = -(terms * weight if weight is not None else terms).sum(axis=1)
    return loss.reshape(shape) if reduction == "none" else _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Any, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Any = None) -> Tensor:
    """Mean squared error; shapes must match (torch would broadcast with a warning; here that is an error).

    ``weight`` (the input's shape) scales each squared error, and the mean then divides by its sum.
    """
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    input = _input("mse_loss", input)
    target = as_tensor_like(target, input)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    loss = diff * diff
    if weight is None:
        return _reduce(loss, reduction)
    w = as_tensor_like(weight, input)
    if w.shape != input.shape:
        raise ValueError(f"mse_loss: weight shape {w.shape} and input shape {input.shape} differ")
    loss = loss * w
    return loss.sum() / w.sum() if reduction == "mean" else _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,
                                     size_average: bool | None = None, reduce: bool | None = None,
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    """-w [p y log sigmoid(x) + (1 - y) log sigmoid(-x)], stable for any finite logits, as torch's.

    log sigmoid(x) and log sigmoid(-x) are the two entries of log_softmax([0, x]). ``weight`` (broadcast to
    the input) scales each element; ``pos_weight`` p (broadcast along the last dimension, one per class)
    scales the positive term.
    """
    fn = "binary_cross_entropy_with_logits"
    reduction = _reduction(fn, size_average, reduce, reduction)
    input = _input(fn, input)
    target = as_tensor_like(target, input)
    if input.shape != target.shape:
        raise ValueError(f"{fn}: target shape {target.shape} and input shape {input.shape} differ")
    zeros = Tensor(np.zeros(input.shape, dtype=input.dtype))
    log_p = ops.stack([zeros, input], axis=-1).log_softmax(axis=-1)
    positive = log_p[..., 1] * target
    if pos_weight is not None:
        positive = positive * _broadcastable(fn, "pos_weight", pos_weight, input)
    loss = -(positive + log_p[..., 0] * (1 - target))
    if weight is not None:
        loss = loss * _broadcastable(fn, "weight", weight, input)
    return _reduce(loss, reduction)


def _broadcastable(fn: str, name: str, value: Any, like: Tensor) -> Tensor:
    """``value`` as a tensor whose shape broadcasts to ``like``'s without enlarging it."""
    t = as_tensor_like(value, like)
    try:
        shape = np.broadcast_shapes(t.shape, like.shape)
    except ValueError:
        shape = None
    if shape != like.shape:
        raise ValueError(f"{fn}: {name} of shape {t.shape} does not broadcast to the input's shape {like.shape}")
    return t


# ---- lookup ---------------------------------------------------------------------

def _padding_index(fn: str, padding_idx: Any, num_embeddings: int) -> int | None:
    """``padding_idx`` as a row of a table of ``num_embeddings`` rows (a negative one counts from the end)."""
    if padding_idx is None:
        return None
    padding_idx = integer(fn, "padding_idx", padding_idx)
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(f"{fn}: padding_idx must lie in [-{num_embeddings}, {num_embeddings}) (within "
                         f"num_embeddings), got {padding_idx}")
    return padding_idx % num_embeddings


def _lookup(fn: str, input: Any, weight: Tensor, padding_idx: int | None) -> Tensor:
    """The rows of ``weight`` that the integer ``input`` picks; the row ``padding_idx`` (already made
    non-negative) is read as it is but gets no gradient, as torch's."""
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be integers, got dtype {idx.dtype}")
    rows = len(weight)
    if idx.size and (idx.min() < 0 or idx.max() >= rows):
        raise ValueError(f"{fn}: indices must lie in [0, {rows}), got values from {idx.min()} to {idx.max()}")
    picked = weight[idx]  # repeated indices add their gradients up
    if padding_idx is None:
        return picked
    pad = idx == padding_idx
    if not pad.any():
        return picked
    return ops.where(pad[..., None], picked.detach(), picked)  # the padding positions send no gradient


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input`` (any shape), as
    torch's; the row ``padding_idx`` (a negative one counts from the end) gets exactly zero gradient."""
    if not isinstance(weight, Tensor):
        raise TypeError(f"embedding: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape {weight.shape}")
    return _lookup("embedding", input, weight, _padding_index("embedding", padding_idx, len(weight)))
