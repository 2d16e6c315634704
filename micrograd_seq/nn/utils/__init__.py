"""As torch.nn.utils: gradient clipping (``clip_grad_norm_``, ``clip_grad_value_``) and, in ``rnn``,
variable-length sequences (``pad_sequence``, ``pack_padded_sequence``, ``PackedSequence``, ...)."""
from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "rnn"]
