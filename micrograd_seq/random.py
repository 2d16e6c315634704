"""The package's random source, for initialisation and dropout: seed it once for reproducible runs."""
from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "generator"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind parameter initialisation and dropout."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The generator behind parameter initialisation and dropout."""
    return _generator
