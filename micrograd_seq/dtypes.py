"""torch's dtype names for numpy's dtypes: ``x.to(mg.float64)``, ``mg.zeros(3, dtype=mg.int64)``."""
import numpy as np

__all__ = ["bool", "double", "float", "float16", "float32", "float64", "half", "int", "int8", "int16", "int32",
           "int64", "long", "uint8"]

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # torch's names, read as mg.float
float64 = double = np.dtype(np.float64)
int8, int16, uint8 = np.dtype(np.int8), np.dtype(np.int16), np.dtype(np.uint8)
int32 = int = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)
