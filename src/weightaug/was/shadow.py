"""Shadow weights for any nn.Module, without editing its code (torch.nn.utils.parametrize).

Each chosen parameter W (the plain weights, PW, which the optimiser updates) is read through a
parametrisation that returns W itself in ``plain`` mode, and ``s * T(W)`` in ``shadow`` mode (the shadow
weights, SW), with T a random :class:`~weightaug.was.transforms.WeightTransform` and ``s`` an optional
learnable per-layer scale. In training, T is redrawn every ``every`` forward calls; in eval the last draw
stays fixed. The mode can be switched at any time; the state_dict holds PW, the scales, the current draws
and the generator, so a checkpoint resumes the same sequence of shadow weights.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from weightaug.was.transforms import WeightTransform, build_transform

MODES = ("plain", "shadow")
Selector = type[nn.Module] | tuple[type[nn.Module], ...] | Sequence[str] | Callable[[str, nn.Module], bool]


class ShadowState:
    """What every parametrisation of one wrapper shares (a plain object, so it is no submodule)."""

    def __init__(self, seed: int) -> None:
        self.mode = "shadow"
        self.generator = torch.Generator().manual_seed(seed)
        self.calls = 0


class ShadowParametrization(nn.Module):
    """``W -> W`` (plain) or ``W -> s * T(W)`` (shadow) for one parameter."""

    def __init__(self, transform: WeightTransform, state: ShadowState, learnable_scale: bool) -> None:
        super().__init__()
        self.transform, self._state = transform, state
        self.scale = nn.Parameter(torch.ones(())) if learnable_scale else None
        self.draw = None

    def forward(self, weight: Tensor) -> Tensor:
        if self._state.mode == "plain":
            return weight
        if self.draw is None:
            self.resample(weight)
        shadow = self.transform.apply(weight, self.draw)
        return shadow * self.scale if self.scale is not None else shadow

    def resample(self, weight: Tensor) -> None:
        self.draw = self.transform.draw(weight.detach(), self._state.generator)


class ShadowWeights(nn.Module):
    """Wrap ``model`` (in place) so the selected layers' ``param`` trains through shadow weights.

    ``layers`` chooses the layers: module types (default: every ``nn.Conv2d`` with kernels larger than 1x1),
    fnmatch patterns of qualified module names (``"layer1.*.conv1"``), or a predicate ``(name, module)``.
    """

    def __init__(
        self,
        model: nn.Module,
        transform: str | WeightTransform = "paper",
        layers: Selector | None = None,
        param: str = "weight",
        every: int = 1,
        learnable_scale: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.model, self.every, self.param = model, every, param
        self.transform = build_transform(transform)
        self._state = ShadowState(seed)
        self.names = select(model, layers, param)
        for name in self.names:
            module = model.get_submodule(name)
            self.transform.check(f"{name}.{param}", getattr(module, param).shape)
        for name in self.names:
            parametrization = ShadowParametrization(self.transform, self._state, learnable_scale)
            parametrize.register_parametrization(model.get_submodule(name), param, parametrization)

    @property
    def mode(self) -> str:
        return self._state.mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {value!r}")
        self._state.mode = value

    @contextmanager
    def mode_as(self, value: str) -> Iterator[None]:
        """Temporarily switch the mode (``with sw.mode_as("plain"): ...``)."""
        old = self.mode
        self.mode = value
        try:
            yield
        finally:
            self.mode = old

    def parametrizations(self) -> Iterator[ShadowParametrization]:
        for name in self.names:
            yield getattr(self.model.get_submodule(name).parametrizations, self.param)[0]

    def plain_weight(self, name: str) -> Tensor:
        """The plain weights (PW) of layer ``name``."""
        return getattr(self.model.get_submodule(name).parametrizations, self.param).original

    def resample(self) -> None:
        """Draw new transforms for every wrapped layer."""
        for name, p in zip(self.names, self.parametrizations()):
            p.resample(self.plain_weight(name))

    def forward(self, *args, **kwargs):
        if self.training and self.mode == "shadow":
            if self._state.calls % self.every == 0:
                self.resample()
            self._state.calls += 1
        return self.model(*args, **kwargs)

    def get_extra_state(self) -> dict:
        return {
            "mode": self.mode,
            "calls": self._state.calls,
            "generator": self._state.generator.get_state(),
            "draws": [p.draw for p in self.parametrizations()],
        }

    def set_extra_state(self, state: dict) -> None:
        self.mode = state["mode"]
        self._state.calls = state["calls"]
        self._state.generator.set_state(state["generator"])
        for p, draw in zip(self.parametrizations(), state["draws"]):
            p.draw = draw


def select(model: nn.Module, layers: Selector | None, param: str) -> list[str]:
    """Qualified names of the modules ``layers`` picks that own ``param``; an error if none or unknown."""
    owners = {n: m for n, m in model.named_modules() if isinstance(getattr(m, param, None), Tensor)}
    if layers is None:
        names = [n for n, m in owners.items() if isinstance(m, nn.Conv2d) and max(m.kernel_size) > 1]
    elif isinstance(layers, type) or (isinstance(layers, tuple) and all(isinstance(t, type) for t in layers)):
        names = [n for n, m in owners.items() if isinstance(m, layers)]
    elif callable(layers):
        names = [n for n, m in owners.items() if layers(n, m)]
    else:
        names = []
        for pattern in layers:
            hits = [n for n in owners if fnmatch.fnmatchcase(n, pattern)]
            if not hits:
                sample = ", ".join(list(owners)[:8])
                raise ValueError(f"no layer with a {param!r} matches {pattern!r}; layers are named like: {sample}, ...")
            names += [n for n in hits if n not in names]
    if not names:
        raise ValueError(f"the layer selection {layers!r} picks no module with a {param!r} in {type(model).__name__}")
    return names
