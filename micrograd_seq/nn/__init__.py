"""Modules: Linear, Embedding, Dropout, LayerNorm, Sequential, losses, activations, and recurrent cells and
layers from primitives; ``init`` for initialisation and ``utils`` for gradient clipping, as in torch.nn.

``RecurrentCell`` is the door for a cell of your own; ``Recurrent`` runs any cell over sequences.
The built-in RNN, LSTM and GRU go through the same door, ``zoo`` holds cells from the literature,
and ``CELLS`` lists every registered kind.
"""
from .. import functional
from . import init, utils, zoo
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .cell import CELLS, CellKind, Recurrent, RecurrentCell, cell_kind, register_cell, unroll
from .layers import Dropout, Embedding, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module, Parameter, Sequential
from .normalization import LayerNorm
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step

__all__ = ["Module", "Parameter", "Sequential", "IncompatibleKeys", "Linear", "Embedding", "Dropout", "LayerNorm",
           "RecurrentCell", "Recurrent", "unroll", "CellKind", "CELLS", "register_cell", "cell_kind",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "rnn_step", "lstm_step", "gru_step",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss", "Tanh", "ReLU", "Sigmoid", "Softmax",
           "LogSoftmax", "functional", "init", "utils", "zoo"]
