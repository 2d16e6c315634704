"""Modules: Linear, Embedding, Dropout, Sequential, and RNN/LSTM/GRU cells and layers from primitives."""
from . import utils
from .layers import Dropout, Embedding, Linear
from .module import IncompatibleKeys, Module, Parameter, Sequential
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step

__all__ = ["Module", "Parameter", "Sequential", "IncompatibleKeys", "Linear", "Embedding", "Dropout",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "rnn_step", "lstm_step", "gru_step", "utils"]
