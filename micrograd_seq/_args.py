"""Argument checks shared by the optimizers, schedulers, clipping and initialisers.

Each returns the value in its plain Python type or raises an error that names the function
and the argument: ``TypeError`` for the wrong kind of value (a string learning rate),
``ValueError`` for a value out of range (a negative one, or NaN).
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["real", "integer", "flag"]


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def real(owner: str, name: str, value: Any, low: float | None = None, high: float | None = None,
         low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float within [low, high] (ends excluded when ``*_open``), NaN refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a real number, got {_kind(value)}")
    number = float(value)
    too_low = low is not None and (number <= low if low_open else number < low)
    too_high = high is not None and (number >= high if high_open else number > high)
    if number != number or too_low or too_high:
        if low is not None and high is not None:
            bounds = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            bounds = f"{'>' if low_open else '>='} {low:g}"
        elif high is not None:
            bounds = f"{'<' if high_open else '<='} {high:g}"
        else:
            bounds = "a number, not NaN"
        raise ValueError(f"{owner}: {name} must be {bounds}, got {value!r}")
    return number


def integer(owner: str, name: str, value: Any, low: int | None = None) -> int:
    """``value`` as an int, at least ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an integer, got {_kind(value)}")
    if low is not None and value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def flag(owner: str, name: str, value: Any) -> bool:
    """``value`` as a bool (True, False or a numpy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {name} must be True or False, got {_kind(value)}")
    return bool(value)
