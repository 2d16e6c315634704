"""Optimizers with torch.optim's update equations, step for step (SGD, Adam, AdamW, LBFGS), parameter
groups, torch-layout state dicts, and learning-rate schedules in ``lr_scheduler``."""
from . import lr_scheduler
from .adam import Adam, AdamW
from .lbfgs import LBFGS
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "LBFGS", "lr_scheduler"]
