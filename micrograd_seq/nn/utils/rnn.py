"""Variable-length sequences, as torch.nn.utils.rnn: pad a list, pack a padded batch, pad a packed one back.

A ``PackedSequence`` holds a batch of sequences of different lengths without padding: the
steps of all sequences, time step by time step (``data``), and how many sequences are still
running at each step (``batch_sizes``). The recurrent layers take one and advance only the
first ``batch_sizes[t]`` rows at step t, so each sequence stops at its own last step::

    >>> import numpy as np
    >>> import micrograd_seq as mg
    >>> from micrograd_seq.nn.utils.rnn import pack_sequence, pad_packed_sequence
    >>> a, b = mg.tensor(np.ones((3, 2))), mg.tensor(np.ones((1, 2)))   # lengths 3 and 1
    >>> packed = pack_sequence([a, b])
    >>> packed.data.shape, packed.batch_sizes.tolist()
    ((4, 2), [2, 1, 1])
    >>> padded, lengths = pad_packed_sequence(packed)                    # (T, B, *), zeros past each end
    >>> padded.shape, lengths.tolist()
    ((3, 2, 2), [3, 1])

Every conversion is one gather (an indexing op), so gradients flow through it, and padding
gets exactly zero gradient.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ... import ops
from ...tensor import Tensor

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pack_sequence", "pad_packed_sequence",
           "invert_permutation"]


class PackedSequence(NamedTuple):
    """A batch of variable-length sequences without padding, as torch.nn.utils.rnn.PackedSequence.

    data: (sum of lengths, *), the steps of the sequences time step by time step: at step t,
        the rows of the ``batch_sizes[t]`` sequences still running, longest sequence first.
    batch_sizes: int64 (T,), how many sequences are running at each step (never increasing).
    sorted_indices: int64 (B,) or None: the batch position of the sequence in row b of ``data``
        (None when the batch came sorted by decreasing length).
    unsorted_indices: int64 (B,) or None: its inverse, mapping back to the caller's order.

    Make one with ``pack_padded_sequence`` or ``pack_sequence``, not by hand.
    """

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation of 0..n-1 (None for None), as torch.nn.utils.rnn.invert_permutation."""
    if permutation is None:
        return None
    order = np.asarray(permutation.numpy() if isinstance(permutation, Tensor) else permutation)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return Tensor(inverse)


def pad_sequence(sequences: Sequence[Any] | Tensor, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack sequences of different lengths into one padded tensor, as torch.nn.utils.rnn.pad_sequence.

    Inputs: sequences, each (L_i, *) with the same trailing shape *.
    Outputs: (max L_i, B, *), or (B, max L_i, *) with ``batch_first``: sequence i in column i,
        ``padding_value`` after its end (``padding_side="left"``: before its start).
    """
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    if isinstance(sequences, Tensor):
        sequences = [sequences[i] for i in range(sequences.shape[0])] if sequences.ndim else [sequences]
    tensors = [s if isinstance(s, Tensor) else Tensor(s) for s in sequences]
    if not tensors:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    for i, s in enumerate(tensors):
        if s.ndim == 0:
            raise ValueError(f"pad_sequence: sequence {i} is 0-d; each sequence must be (length, *)")
        if s.shape[1:] != tensors[0].shape[1:]:
            raise ValueError(f"pad_sequence: every sequence must have the same trailing shape (all but the "
                             f"length), but sequence 0 is {tensors[0].shape} and sequence {i} is {s.shape}")
    lengths = np.array([s.shape[0] for s in tensors])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    longest = int(lengths.max())
    time = np.arange(longest)[:, None]                                   # (T, 1) against (B,)
    first = 0 if padding_side == "right" else longest - lengths          # the row where each sequence starts
    step = time - first
    index = np.where((step >= 0) & (step < lengths), starts + step, lengths.sum())  # past the end: the padding row
    return _gather([*tensors], index.T if batch_first else index, padding_value)


def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch of sequences, as torch.nn.utils.rnn.pack_padded_sequence.

    Inputs: input, lengths
        input: (T, B, *), or (B, T, *) with ``batch_first``: sequence b is the first
            ``lengths[b]`` steps of column b; what follows is padding and is left out.
        lengths: B positive integers (a list, an array or an integer tensor). With
            ``enforce_sorted=True`` they must be decreasing; with False the batch is sorted
            here and ``sorted_indices`` records the order.
    Outputs: a ``PackedSequence``; ``data`` is one gather from ``input``, so gradients flow back.
    """
    x = input if isinstance(input, Tensor) else Tensor(input)
    lengths = _lengths(lengths)
    if x.ndim < 2:
        raise ValueError(f"pack_padded_sequence: expected input of shape {'(B, T, *)' if batch_first else '(T, B, *)'}"
                         f", got {x.shape}")
    if x.numel() == 0:
        raise RuntimeError("pack_padded_sequence: cannot pack empty tensors")
    steps, batch = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    if lengths.size != batch:
        raise RuntimeError(f"pack_padded_sequence: expected len(lengths) to be equal to the batch size, "
                           f"but got {lengths.size} (batch_size={batch})")
    if enforce_sorted:
        sorted_indices = None
        order = np.arange(batch)
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = Tensor(order)
    running = lengths[order]
    if running[-1] <= 0:
        raise RuntimeError("pack_padded_sequence: the length of every sequence must be greater than 0, but "
                           f"lengths holds {int(lengths.min())}")
    if np.any(running[1:] > running[:-1]):
        raise RuntimeError(f"pack_padded_sequence: lengths must be sorted in decreasing order when enforce_sorted "
                           f"is True, got {lengths.tolist()}; pass enforce_sorted=False to sort them here")
    if running[0] > steps:
        raise ValueError(f"pack_padded_sequence: lengths holds {int(running[0])}, longer than the input's "
                         f"{steps} time steps (input shape {x.shape}, batch_first={batch_first})")
    batch_sizes = (running[None, :] > np.arange(running[0])[:, None]).sum(axis=1)
    time = np.repeat(np.arange(batch_sizes.size), batch_sizes)           # the step of each packed row ...
    row = np.arange(time.size) - np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)
    column = order[row]                                                  # ... and its sequence in the input
    data = x[(column, time) if batch_first else (time, column)]
    return PackedSequence(data, Tensor(batch_sizes.astype(np.int64)), sorted_indices,
                          invert_permutation(sorted_indices))


def pack_sequence(sequences: Sequence[Any], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences (each (L_i, *)), as torch.nn.utils.rnn.pack_sequence:
    ``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)``."""
    padded = pad_sequence(sequences)
    lengths = [s.shape[0] if isinstance(s, Tensor) else np.shape(s)[0] for s in sequences]
    return pack_padded_sequence(padded, lengths, enforce_sorted=enforce_sorted)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Pad a packed batch back into one tensor, as torch.nn.utils.rnn.pad_packed_sequence.

    Inputs: sequence (a ``PackedSequence``); ``total_length``: pad to this many steps (at least
        the longest sequence), e.g. to match the input of ``pack_padded_sequence``.
    Outputs: padded, lengths
        padded: (T, B, *), or (B, T, *) with ``batch_first``, in the caller's batch order,
            ``padding_value`` past each sequence's end.
        lengths: int64 (B,), each sequence's length, in the same order.
    """
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    batch_sizes = sequence.batch_sizes.numpy()
    steps, batch = batch_sizes.size, int(batch_sizes[0])
    if total_length is not None:
        if isinstance(total_length, bool) or not isinstance(total_length, numbers.Integral):
            raise TypeError(f"pad_packed_sequence: total_length must be an int, got {type(total_length).__name__}")
        if total_length < steps:
            raise ValueError("pad_packed_sequence: expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max sequence length "
                             f"being {steps}")
        steps = int(total_length)
    rows = sequence.data.shape[0]
    index = np.full((steps, batch), rows)                                # the padding row, unless a step is there
    time = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    index[time, np.arange(rows) - np.repeat(np.cumsum(batch_sizes) - batch_sizes, batch_sizes)] = np.arange(rows)
    lengths = (batch_sizes[None, :] > np.arange(batch)[:, None]).sum(axis=1)
    if sequence.unsorted_indices is not None:
        unsorted = sequence.unsorted_indices.numpy()
        index, lengths = index[:, unsorted], lengths[unsorted]
    padded = _gather([sequence.data], index.T if batch_first else index, padding_value)
    return padded, Tensor(lengths.astype(np.int64))


def _gather(pieces: list[Tensor], index: np.ndarray, padding_value: float) -> Tensor:
    """Rows of the pieces joined, one padding row after them, picked by ``index``: one concat and one gather."""
    like = pieces[0]
    pad = Tensor(np.full((1, *like.shape[1:]), padding_value, dtype=like.dtype))
    return ops.concat([*pieces, pad], axis=0)[index]


def _lengths(lengths: Any) -> np.ndarray:
    """The lengths as a 1-d int64 array (a list, an array or an integer tensor)."""
    values = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    if values.ndim != 1:
        raise ValueError(f"pack_padded_sequence: lengths must be 1-d (one per sequence), got shape {values.shape}")
    if values.size and values.dtype.kind not in "iu":
        raise TypeError(f"pack_padded_sequence: lengths must be integers, got dtype {values.dtype}")
    return values.astype(np.int64)
