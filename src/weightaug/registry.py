"""Things chosen by name with parameters, ``name:key=value:key=value``: augmentations, models.

One parser for every registry: the name must be registered, each key must be a parameter of what it names,
and each value is read as a Python literal of the type of that parameter's default (an int is accepted for a
float). Errors name the item, the key and what was expected.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Mapping
from functools import partial


class RegistryError(ValueError):
    """A name or parameter that does not exist, or a value of the wrong type."""


def parameters(factory: Callable, skip: tuple[str, ...] = ()) -> dict[str, object]:
    """The parameters ``factory`` (a class, function or ``functools.partial``) takes by name, with their
    defaults; those in ``skip`` and those the partial fixes are left out."""
    fixed = factory.keywords if isinstance(factory, partial) else {}
    target = factory.func if isinstance(factory, partial) else factory
    params = inspect.signature(target).parameters
    return {n: p.default for n, p in params.items() if n not in skip and n not in fixed}


def typed_value(item: str, key: str, text: str, default: object) -> object:
    """``text`` as a value of the type of ``default``."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    expected = type(default)
    if expected is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and (expected is bool or not isinstance(value, bool)):
        return value
    if expected in (tuple, list) and isinstance(value, tuple | list):
        return expected(value)
    kinds = {
        float: "a number",
        int: "an integer",
        bool: "True or False",
        str: "a word",
        tuple: "a tuple such as (0.8,1.0)",
    }
    raise RegistryError(f"{item}: parameter {key} expects {kinds.get(expected, expected.__name__)}, got {text!r}")


def parse(
    item: str, registry: Mapping[str, Callable], what: str, skip: tuple[str, ...] = (), example: str = ""
) -> tuple[str, dict[str, object]]:
    """``name`` or ``name:key=value:...`` -> (name, typed keyword arguments) for a ``what`` of ``registry``."""
    name, *params = item.strip().split(":")
    if "=" in name:
        raise RegistryError(
            f"{name!r} is a parameter without a {what}: separate parameters with ':'{example}; "
            "',' separates the items of a list"
        )
    if name not in registry:
        raise RegistryError(f"unknown {what} {name!r}; choose from: {', '.join(registry)}")
    allowed, kwargs = parameters(registry[name], skip), {}
    for param in params:
        key, sep, text = param.partition("=")
        if not sep or key not in allowed:
            raise RegistryError(
                f"{name}: bad parameter {param!r}; write key=value with key one of: {', '.join(allowed)}"
            )
        kwargs[key] = typed_value(name, key, text, allowed[key])
    return name, kwargs
