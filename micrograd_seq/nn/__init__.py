"""Modules: Linear, Embedding, Dropout, Sequential, losses, activations, and RNN/LSTM/GRU cells and layers
from primitives; ``init`` for initialisation and ``utils`` for gradient clipping, as in torch.nn."""
from .. import functional
from . import init, utils
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .layers import Dropout, Embedding, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import IncompatibleKeys, Module, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step

__all__ = ["Module", "Parameter", "Sequential", "IncompatibleKeys", "Linear", "Embedding", "Dropout",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "rnn_step", "lstm_step", "gru_step",
           "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss", "Tanh", "ReLU", "Sigmoid", "Softmax",
           "LogSoftmax", "functional", "init", "utils"]
