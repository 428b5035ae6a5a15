"""Command-line options from the library's own declarations: each field of a config dataclass and each
parameter of a library verb is declared once, ``Annotated[type, help]``, and the CLI derives its options
(type, default, choices, help) from it."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing

import click

POSITIVE = click.IntRange(min=1)
COUNT = click.IntRange(min=0)


class RegistryChoice(click.ParamType):
    """``name`` or ``name:key=value:...`` with ``name`` one of ``choices`` (the registry checks the rest)."""

    name = "name[:key=value]"

    def __init__(self, choices) -> None:
        self.choices = list(choices)

    def convert(self, value, param, ctx):
        if value.split(":")[0] not in self.choices:
            self.fail(f"{value!r}: choose from {', '.join(self.choices)} (parameters as name:key=value)", param, ctx)
        return value


def _splitter(kind: type):
    def split(_ctx, _param, value: str) -> tuple:
        try:
            return tuple(kind(v.strip()) for v in value.split(",") if v.strip())
        except ValueError:
            raise click.BadParameter(
                f"expected comma-separated {kind.__name__}s such as 32,32, got {value!r}"
            ) from None

    return split


def fields(source, *names: str, kinds: dict | None = None, **defaults):
    """Options for the fields (or parameters) ``names`` of a dataclass (or function), typed, defaulted and
    documented as they are: ``Annotated[type, help]``, a dict or tuple in the metadata a choice of its keys (a
    dict of descriptions is the help too); ``kinds`` (click types) and ``defaults`` override. Integers count:
    at least 1 (at least 0 where the default is 0), seeds any integer."""
    hints = typing.get_type_hints(source, include_extras=True)
    params = (
        dataclasses.fields(source)
        if dataclasses.is_dataclass(source)
        else inspect.signature(source).parameters.values()
    )
    default_of = {p.name: p.default for p in params}

    def option(name: str):
        hint, meta = hints[name].__origin__, hints[name].__metadata__
        default, extra = defaults.get(name, default_of[name]), {}
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
        kind = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        text = next((m for m in meta if isinstance(m, str)), None)
        if choices := next((m for m in meta if isinstance(m, dict | tuple)), None):
            kind = click.Choice(list(choices))
            if text is None:
                text = "; ".join(f"{k}: {v}" for k, v in choices.items())
        elif typing.get_origin(kind) is typing.Literal:
            kind = click.Choice(typing.get_args(kind))
        elif typing.get_origin(kind) is tuple:
            kind, default, extra = str, ",".join(map(str, default)), {"callback": _splitter(typing.get_args(kind)[0])}
        elif kind is bool:
            kind, extra = None, {"is_flag": True}
        elif kind is int and name != "seed":
            kind = COUNT if default == 0 else POSITIVE
        flag, kind = f"--{name.replace('_', '-')}", (kinds or {}).get(name, kind)
        show = default is not None and kind is not None
        return click.option(flag, type=kind, default=default, show_default=show, help=text, **extra)

    def decorate(f):
        for name in reversed(names):
            f = option(name)(f)
        return f

    return decorate


def build(cls: type, settings: dict, **given):
    """An instance of the dataclass ``cls`` from the options among ``settings`` that are its fields."""
    return cls(**{f.name: settings[f.name] for f in dataclasses.fields(cls) if f.name in settings}, **given)
