"""docs/api.md documents every public name, with its current signature, and nothing that is gone.

An entry is a list item ``- `mg.nn.LSTM(input_size, ...)`: one line.``: the dotted name as it is
reached from ``import micrograd_seq as mg``, its signature without annotations (none for modules,
properties and attributes), and a line saying what it is. Public names are the ``__all__`` of the
modules below, plus the public members of the classes whose methods are the everyday API.

``python tests/test_api_docs.py`` prints a skeleton entry for every name api.md lacks.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import micrograd_seq as mg

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"
MODULES = ["mg", "mg.nn", "mg.nn.init", "mg.nn.utils", "mg.nn.utils.rnn", "mg.nn.zoo", "mg.optim",
           "mg.optim.lr_scheduler", "mg.functional", "mg.func", "mg.viz", "mg.teaching"]
CLASSES_WITH_MEMBERS = ["mg.Tensor", "mg.nn.Module", "mg.nn.RecurrentCell", "mg.nn.Recurrent", "mg.optim.Optimizer",
                        "mg.optim.lr_scheduler.LRScheduler"]
ENTRY = re.compile(r"^- `(?P<name>mg(?:\.\w+)+)(?P<signature>\([^`]*\))?`(?P<rest>.*)$")


def resolve(dotted: str) -> Any:
    """The object ``mg.a.b`` names, via attribute access as a user would reach it."""
    obj: Any = mg
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part) if not inspect.isclass(obj) else inspect.getattr_static(obj, part)
    return obj


def existing_modules() -> list[str]:
    """The MODULES that exist (mg.viz and mg.teaching arrive with later work)."""
    found = []
    for dotted in MODULES:
        real = dotted.replace("mg", "micrograd_seq", 1)
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as err:
            if err.name == real:
                continue
            raise
        if getattr(module, "__file__", None) is not None:  # not an empty directory (a namespace package)
            found.append(dotted)
    return found


def public_names() -> list[str]:
    names = []
    for dotted in existing_modules():
        module = resolve(dotted)
        names += [f"{dotted}.{name}" for name in module.__all__]
    for dotted in CLASSES_WITH_MEMBERS:
        cls = resolve(dotted)
        names += [f"{dotted}.{name}" for name in vars(cls) if not name.startswith("_")]
    return names


def signature_text(obj: Any) -> str | None:
    """``(a, b=1)``: the call signature without annotations and without ``self``; None if not callable."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if inspect.ismodule(obj) or not callable(obj):
        return None
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    params = [p.replace(annotation=p.empty) for p in sig.parameters.values()]
    if params and params[0].name == "self":
        params = params[1:]
    return str(sig.replace(parameters=params, return_annotation=sig.empty))


def documented() -> dict[str, re.Match]:
    entries = {}
    for line in API_PAGE.read_text(encoding="utf-8").splitlines():
        found = ENTRY.match(line)
        if found:
            assert found["name"] not in entries, f"api.md documents {found['name']} twice"
            entries[found["name"]] = found
    return entries


def skeleton(name: str) -> str:
    obj = resolve(name)
    doc = (inspect.getdoc(obj) or "").split("\n")[0] if not isinstance(obj, property) else \
        (inspect.getdoc(obj.fget) or "").split("\n")[0]
    return f"- `{name}{signature_text(obj) or ''}`: {doc.replace('``', '`') or 'TODO'}"


def test_every_public_name_is_documented() -> None:
    entries = documented()
    missing = [name for name in public_names() if name not in entries]
    assert not missing, "docs/api.md lacks these public names (python tests/test_api_docs.py prints " \
                        "skeleton entries):\n" + "\n".join(missing)


def test_every_documented_name_exists_with_its_signature() -> None:
    stale, wrong = [], []
    for name, entry in documented().items():
        try:
            obj = resolve(name)
        except AttributeError:
            stale.append(name)
            continue
        if (entry["signature"] or None) != signature_text(obj):
            wrong.append(f"{name}: the page says {entry['signature']}, the code has {signature_text(obj)}")
    assert not stale, f"docs/api.md documents names that do not exist: {stale}"
    assert not wrong, "docs/api.md has stale signatures:\n" + "\n".join(wrong)


def test_every_entry_says_what_it_is() -> None:
    bare = [name for name, entry in documented().items() if not re.match(r"^: \S", entry["rest"])]
    assert not bare, f"these api.md entries need a line after the name (`name(...)`: what it is): {bare}"


if __name__ == "__main__":
    have = documented() if API_PAGE.exists() else {}
    print("\n".join(skeleton(name) for name in public_names() if name not in have))
