"""One exception tree: every error Flov7 raises on purpose derives from Flov7Error, and
no two of its classes share a name (a message names the class a user looks up)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import flov7
from flov7.errors import Flov7Error


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(flov7.__path__, "flov7."):
        if ".migrations" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("flov7."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return list(found.values())


def test_every_flov7_exception_is_a_flov7_error() -> None:
    outside = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _exception_classes()
        if not issubclass(cls, Flov7Error) and not cls.__name__.startswith("_")
    ]
    assert outside == []


def test_no_two_exception_classes_share_a_name() -> None:
    names: dict[str, list[str]] = {}
    for cls in _exception_classes():
        names.setdefault(cls.__name__, []).append(cls.__module__)
    assert {name: where for name, where in names.items() if len(where) > 1} == {}
