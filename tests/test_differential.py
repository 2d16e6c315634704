"""Random programs, run by this library and by torch, agree to 1e-9: values, gradients and refusals.

Each program (tests/programs.py) draws float64 leaves, applies a random sequence of ops, then
tries to write into some of its values before calling backward, as a user with numpy habits
might. A write this library allows must be one that cannot change any gradient, so its
gradients (with the writes) must still equal torch's (without them); a write it refuses must
be a RuntimeError. Invalid ops must raise a typed error.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

pytest.importorskip("torch")

from programs import BAD, OPS, TYPED, Program, close, grad_of, leaves, programs, run


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_random_programs_agree_with_torch(program: Program):
    ours, outcomes = run(program, "mg", program.writes)
    theirs, _ = run(program, "torch", [])
    written = {k for (k, _), outcome in zip(program.writes, outcomes, strict=True) if outcome == "written"}
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if k not in written:
            assert close(a.data, b.detach().numpy()), f"value {k}"
    # Every write this library allowed happened before its backward, and torch made none: so the
    # gradients agree only if no allowed write could change a gradient.
    for k, (a, b) in enumerate(zip(leaves(program, ours), leaves(program, theirs), strict=True)):
        assert close(grad_of(a), grad_of(b)), f"gradient of leaf {k}"
    for name, k in program.bad:
        with pytest.raises(TYPED):
            BAD[name](ours[k])


def test_the_programs_cover_what_they_claim():
    """Sanity of the generator itself: enough variety that the 300 programs mean something."""
    seen_ops, seen_empty, seen_refused, seen_written = set(), False, False, False

    @settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(programs())
    def collect(program):
        nonlocal seen_empty, seen_refused, seen_written
        seen_ops.update(e[1] for e in program.events if e[0] == "op")
        seen_empty |= any(e[0] == "leaf" and 0 in e[1].shape for e in program.events)
        _, outcomes = run(program, "mg", program.writes)
        seen_refused |= "refused" in outcomes
        seen_written |= "written" in outcomes
    collect()
    assert seen_ops == set(OPS) and seen_empty and seen_refused and seen_written
