"""Forward mode, and Jacobians both ways, in torch.func's spelling: ``mg.func.jvp``, ``jacfwd``, ``jacrev``.

Reverse mode (``backward()``) sends one output's gradient back to every input. Forward mode
sends one input direction's tangent forward to every output: each op's rule (``jvp=`` in
ops.py, beside its backward) maps its inputs' tangents to its output's, while the forward pass
runs, storing nothing for later. Tangents may carry a leading axis of directions, so one pass
gives many directional derivatives (a "vectorised" JVP); ``jacfwd`` uses that with one
direction per input element.

``functional_call(module, parameters, args)`` runs a module with other tensors in place of its
parameters, as torch.func's does, so a forward pass can carry tangents of the parameters.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from .autograd import grad as reverse_grad
from .graph import open_dual_level
from .tensor import Tensor, set_tangent, tangent_of

__all__ = ["functional_call", "jacfwd", "jacrev", "jvp"]


def jvp(func: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(func(*primals), J @ tangents)``: the outputs and their directional derivatives, as torch.func.jvp.

    ``primals`` and ``tangents`` are tuples of the same length (tensors or arrays); each tangent
    has its primal's shape, or one more leading axis of K directions for all of them at once,
    giving output tangents with that leading axis. ``func`` may return a tensor or a (nested)
    tuple or list of them; the tangents come back in the same structure. Inputs without a
    tangent (arguments ``func`` closes over, a module's parameters) are constants.
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (as torch.func.jvp's), e.g. jvp(f, (x,), (v,))")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: got {len(primals)} primals and {len(tangents)} tangents")
    values = [_array("jvp", "primal", k, p) for k, p in enumerate(primals)]
    directions = [_array("jvp", "tangent", k, t, dtype=v.dtype) for k, (t, v) in
                  enumerate(zip(tangents, values, strict=True))]
    batch = _batch(values, directions)
    with open_dual_level(batch or 1) as level:
        duals = []
        for value, direction in zip(values, directions, strict=True):
            dual = Tensor._from_op(value, None)
            set_tangent(dual, direction if batch else direction[None], level)
            duals.append(dual)
        out = func(*duals)
        primal_out = _map(out, lambda o: o.detach())
        tangent_out = _map(out, lambda o: Tensor._from_op(_tangent_or_zeros(o, level.batch)[slice(None) if batch
                                                                                            else 0], None))
    return primal_out, tangent_out


def jacfwd(func: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """A function computing ``func``'s Jacobian by forward mode: one pass, a direction per input element.

    As torch.func.jacfwd: the Jacobian of an output of shape S with respect to an argument of
    shape A has shape S + A; several ``argnums`` give a tuple, several outputs a matching structure.
    """
    numbers = _argnums("jacfwd", argnums)

    def jacobian(*args: Any) -> Any:
        values = [_array("jacfwd", "argument", k, a) for k, a in enumerate(args)]
        per_argument = []
        for k in numbers:
            shape = values[k].shape
            size = math.prod(shape)
            if size == 0:  # no directions: the Jacobian is empty
                out = func(*[Tensor._from_op(v, None) for v in values])
                per_argument.append(_map(out, functools.partial(_empty_jacobian, shape)))
                continue
            tangents = [np.zeros((size, *v.shape), dtype=v.dtype) for v in values]
            tangents[k] = np.eye(size, dtype=values[k].dtype).reshape((size, *shape))
            _, derivative = jvp(func, values, tangents)
            per_argument.append(_map(derivative, functools.partial(_directions_last, shape)))
        return per_argument[0] if isinstance(argnums, int) else _per_output(per_argument)
    return jacobian


def jacrev(func: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """A function computing ``func``'s Jacobian by reverse mode: one backward per output element.

    As torch.func.jacrev, with torch.func.jacfwd's shapes (output shape + argument shape).
    """
    numbers = _argnums("jacrev", argnums)

    def jacobian(*args: Any) -> Any:
        values = [_array("jacrev", "argument", k, a) for k, a in enumerate(args)]
        leaves = [Tensor(v, requires_grad=k in numbers, dtype=v.dtype) for k, v in enumerate(values)]
        wanted = [leaves[k] for k in numbers]
        out = func(*leaves)
        tables: dict[int, list[np.ndarray]] = {}

        def rows(o: Tensor) -> Tensor:
            jac = tables[id(o)] = [np.zeros(o.shape + w.shape, dtype=w.dtype) for w in wanted]
            for i in range(o.numel() if o.requires_grad else 0):
                seed = np.zeros(o.shape, dtype=o.dtype)
                seed.reshape(-1)[i] = 1
                grads = reverse_grad(o, wanted, grad_outputs=seed, retain_graph=True, allow_unused=True)
                for j, g in enumerate(grads):
                    if g is not None:
                        jac[j][np.unravel_index(i, o.shape)] = g
            return o
        _map(out, rows)
        per_argument = [_map(out, functools.partial(_table_entry, tables, j)) for j in range(len(wanted))]
        return per_argument[0] if isinstance(argnums, int) else _per_output(per_argument)
    return jacobian


def functional_call(module: Any, parameter_and_buffer_dicts: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                    args: Any = None, kwargs: Mapping[str, Any] | None = None, *,
                    tie_weights: bool = True, strict: bool = False) -> Any:
    """``module(*args, **kwargs)`` with the tensors in ``parameter_and_buffer_dicts`` in place of its own.

    As torch.func.functional_call: ``args`` is a tuple of positional arguments (anything else is
    the one argument), the dicts map dotted parameter names to tensors (several dicts must not
    share a name), ``tie_weights`` swaps every name of a tied parameter when one is given,
    ``strict=True`` requires every parameter, and the module is left as it was afterwards, also
    if it raises. Names the module does not have are a KeyError.
    """
    dicts = [parameter_and_buffer_dicts] if isinstance(parameter_and_buffer_dicts, Mapping) \
        else list(parameter_and_buffer_dicts)
    parameters: dict[str, Any] = {}
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TypeError(f"functional_call: expected a dict of tensors or a sequence of dicts, "
                            f"got {type(d).__name__}")
        twice = sorted(set(parameters) & set(d))
        if twice:
            raise ValueError(f"functional_call: {twice} appear in more than one dict")
        parameters.update(d)
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with _swapped(module, parameters, tie_weights, strict):
        return module(*args, **(kwargs or {}))


@contextmanager
def _swapped(module: Any, parameters: Mapping[str, Any], tie_weights: bool, strict: bool) -> Iterator[None]:
    own = dict(module.named_parameters(remove_duplicate=False))
    unknown = [name for name in parameters if name not in own]
    if unknown:
        raise KeyError(f"functional_call: {type(module).__name__} has no parameter(s) {unknown}")
    if tie_weights:  # a tied weight given under one name is swapped under all of them
        given = {id(own[name]): value for name, value in parameters.items()}
        parameters = {name: given[id(p)] for name, p in own.items() if id(p) in given} | dict(parameters)
    missing = [name for name in own if name not in parameters]
    if strict and missing:
        raise KeyError(f"functional_call: strict=True, and {type(module).__name__}'s parameter(s) {missing} "
                       "are not given")
    saved = []
    try:
        for name, value in parameters.items():
            owner, _, attribute = name.rpartition(".")
            holder = module.get_submodule(owner) if owner else module
            holder, attribute = holder._home_of(attribute)  # where the module reads it as it computes
            saved.append((holder, attribute, holder.__dict__[attribute]))
            object.__setattr__(holder, attribute, value if isinstance(value, Tensor) else Tensor(value))
        yield
    finally:
        for holder, attribute, original in reversed(saved):
            object.__setattr__(holder, attribute, original)


# ---- helpers -------------------------------------------------------------------------------

def _array(owner: str, what: str, k: int, value: Any, dtype: Any = None) -> np.ndarray:
    array = value._data if isinstance(value, Tensor) else np.asarray(value, dtype=dtype)
    if array.dtype.kind != "f":
        raise TypeError(f"{owner}: {what} {k} must be floating, got dtype {array.dtype}")
    return array if dtype is None else array.astype(dtype, copy=False)


def _batch(values: list[np.ndarray], directions: list[np.ndarray]) -> int:
    """0 when every tangent has its primal's shape; K when every one leads with K directions."""
    batched = set()
    for k, (v, t) in enumerate(zip(values, directions, strict=True)):
        if t.shape == v.shape:
            batched.add(0)
        elif t.shape[1:] == v.shape:
            batched.add(t.shape[0])
        else:
            raise ValueError(f"jvp: tangent {k} has shape {t.shape}; expected its primal's shape {v.shape}, or "
                             f"(K, *{v.shape}) for K directions at once")
    if len(batched) != 1:
        raise ValueError(f"jvp: the tangents disagree on the number of directions ({sorted(batched)}); give all of "
                         "them the primal's shape, or all the same leading K")
    return batched.pop()


def _tangent_or_zeros(out: Tensor, batch: int) -> np.ndarray:
    tangent = tangent_of(out)
    return np.zeros((batch, *out.shape), dtype=out.dtype) if tangent is None else tangent


def _map(tree: Any, fn: Callable[[Tensor], Any]) -> Any:
    """``fn`` applied to every tensor of a nested tuple/list structure, keeping the structure."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(_map(item, fn) for item in tree)
    if not isinstance(tree, Tensor):
        raise TypeError(f"func must return a Tensor or a (nested) tuple or list of them, got {type(tree).__name__}")
    return fn(tree)


def _empty_jacobian(shape: tuple[int, ...], out: Tensor) -> Tensor:
    return Tensor._from_op(np.zeros(out.shape + shape, dtype=out.dtype), None)


def _directions_last(shape: tuple[int, ...], tangent: Tensor) -> Tensor:
    """A jvp's (directions, *out) tangent, one direction per argument element, as the Jacobian (*out, *arg)."""
    return Tensor._from_op(np.moveaxis(tangent._data, 0, -1).reshape(tangent.shape[1:] + shape), None)


def _table_entry(tables: dict[int, list[np.ndarray]], j: int, out: Tensor) -> Tensor:
    return Tensor._from_op(tables[id(out)][j], None)


def _per_output(per_argument: list[Any]) -> Any:
    """Jacobians by argument, each in the outputs' structure, as torch.func gives them for several argnums:
    the outputs' structure, each output holding a tuple over the arguments."""
    first = per_argument[0]
    if isinstance(first, (tuple, list)):
        return type(first)(_per_output(list(parts)) for parts in zip(*per_argument, strict=True))
    return tuple(per_argument)


def _argnums(owner: str, argnums: int | Sequence[int]) -> list[int]:
    numbers = [argnums] if isinstance(argnums, int) else list(argnums)
    if not numbers or not all(isinstance(n, int) and n >= 0 for n in numbers):
        raise TypeError(f"{owner}: argnums must be a non-negative int or a tuple of them, got {argnums!r}")
    return numbers
