"""Teaching: BPTT derived by hand beside the autodiff that makes it unnecessary, and gradient flow.

- ``bptt_rnn``, ``bptt_lstm``, ``bptt_gru``: numpy forward passes and hand-derived backward
  passes through time, written as the textbooks write them.
- ``compare(cell, ...)``: the largest difference between those and ``backward()`` through ``mg.nn``.
- ``hidden_grad_norms``, ``jacobians``, ``jacobian_norms``, ``plot_gradient_flow``: how the
  gradient shrinks or grows as it flows back through time.
- ``rtrl``, ``RTRL``: the same gradients by forward mode, real-time recurrent learning: the
  sensitivities ds_t/dθ carried forward step by step, nothing stored, weights updatable online.
"""
from . import bptt_gru, bptt_lstm, bptt_rnn
from .agreement import Problem, autodiff_gradients, build_model, compare, hand_gradients, random_problem
from .gradient_flow import hidden_grad_norms, jacobian_norms, jacobians, plot_gradient_flow
from .rtrl import RTRL, rtrl
from .unroll import unroll

__all__ = ["bptt_rnn", "bptt_lstm", "bptt_gru", "Problem", "random_problem", "hand_gradients",
           "autodiff_gradients", "build_model", "compare", "hidden_grad_norms", "jacobians", "jacobian_norms",
           "plot_gradient_flow", "unroll", "rtrl", "RTRL"]
