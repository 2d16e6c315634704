"""Pictures of recorded graphs: time steps as clusters, shared weights drawn once, gradients as colour."""
from .draw import GraphvizNotFoundError, draw, save
from .replay import ReplayPage, backward_order, replay

__all__ = ["draw", "save", "GraphvizNotFoundError", "replay", "ReplayPage", "backward_order"]
