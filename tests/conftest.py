"""Shared test set-up: every test starts from the default dtype and autograd switches."""
import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.graph import MODE

try:  # torch is only the reference oracle; one thread keeps it quick on a shared 2-core machine
    import torch
except ImportError:
    pass
else:
    torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fresh_state():
    dtype = mg.get_default_dtype()
    yield
    mg.set_default_dtype(dtype)
    MODE.grad_enabled, MODE.anomaly, MODE.scope, MODE.keep_values, MODE.trace = True, False, (), False, None


@pytest.fixture
def f64():
    """Run the test with float64 as the default dtype (exactness checks)."""
    mg.set_default_dtype(np.float64)
    yield
