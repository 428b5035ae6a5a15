"""Shadow weights for any nn.Module, without editing its code (torch.nn.utils.parametrize).

Each chosen parameter W (the plain weights, PW, which the optimiser updates) is read through a
parametrisation that returns W itself in ``plain`` mode, and ``s * T(W)`` in ``shadow`` mode (the shadow
weights, SW), with T a random :class:`~weightaug.was.transforms.WeightTransform` and ``s`` an optional
learnable per-layer scale. In training, T is redrawn every ``every`` forward calls; in eval the last draw
stays fixed. The mode can be switched at any time; the state_dict holds PW, the scales, the current draws
and the generator, so a checkpoint resumes the same sequence of shadow weights.
"""

from __future__ import annotations

import copy
import fnmatch
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from weightaug.was.transforms import WeightTransform, build_transform

MODES = ("plain", "shadow")
SCALE_INITS = ("one", "uniform")
Selector = type[nn.Module] | tuple[type[nn.Module], ...] | Sequence[str] | Callable[[str, nn.Module], bool]


class ShadowState:
    """What every parametrisation of one wrapper shares (a plain object, so it is no submodule)."""

    def __init__(self, seed: int) -> None:
        self.mode = "shadow"
        self.generator = torch.Generator().manual_seed(seed)
        self.calls = 0
        self.through_wrapper = False  # the model is being called by the wrapper (or with draws fixed on purpose)
        self.warned = False


class _DirectCallCheck:
    """A forward pre-hook on the wrapped model: warns once when it is called directly in training mode, where
    no new shadow weights are drawn (call the wrapper instead)."""

    def __init__(self, state: ShadowState) -> None:
        self.state = state

    def __call__(self, module: nn.Module, args) -> None:
        s = self.state
        if module.training and s.mode == "shadow" and not s.through_wrapper and not s.warned:
            s.warned = True
            warnings.warn(
                "the model wrapped by ShadowWeights was called directly in training mode: no shadow weights are "
                "drawn that way; call the ShadowWeights wrapper (or use sw.fixed_draws() to mean it)",
                stacklevel=2,
            )


class ShadowParametrization(nn.Module):
    """``W -> W`` (plain) or ``W -> s * T(W)`` (shadow) for one parameter."""

    def __init__(self, transform: WeightTransform, state: ShadowState, scale: float | None) -> None:
        super().__init__()
        self.transform, self._state = transform, state
        self.scale = None if scale is None else nn.Parameter(torch.tensor(float(scale)))
        self.draw = None

    def forward(self, weight: Tensor) -> Tensor:
        if self._state.mode == "plain":
            return weight
        if self.draw is None:
            self.resample(weight)
        self.draw = _like(self.draw, weight)  # a model moved by .to() takes its draws along
        shadow = self.transform.apply(weight, self.draw)
        return shadow * self.scale if self.scale is not None else shadow

    def resample(self, weight: Tensor) -> None:
        self.draw = self.transform.draw(weight.detach(), self._state.generator)


def _like(draw, weight: Tensor):
    """``draw`` with its tensors on ``weight``'s device and in its dtype."""
    if isinstance(draw, Tensor) and (draw.device, draw.dtype) != (weight.device, weight.dtype):
        return draw.to(weight.device, weight.dtype)
    return tuple(_like(d, weight) for d in draw) if isinstance(draw, tuple) else draw


class ShadowWeights(nn.Module):
    """Wrap ``model`` (in place) so the selected layers' ``param`` trains through shadow weights.

    ``layers`` chooses the layers: module types (default: every ``nn.Conv2d`` with kernels larger than 1x1),
    fnmatch patterns of qualified module names (``"layer1.*.conv1"``, one or a list), or a predicate
    ``(name, module)``. ``scale_init`` is the learnable per-layer scale's start: ``"one"``, or ``"uniform"``,
    U(0, 1) per layer from the wrapper's seed (the public code's).

    Both ``sw.model.compile()`` and ``torch.compile(sw)`` compile the model with its parametrizations into one
    graph that every draw reuses: drawing (:meth:`step`, Python floats and a step counter) runs eagerly, outside
    the graph, and a choice among kernel transforms is a tensor (see ``OneOfTransforms.resamples``).
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
        scale_init: str = "one",
    ) -> None:
        super().__init__()
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.model, self.every, self.param = model, every, param
        if scale_init not in SCALE_INITS:
            raise ValueError(f"scale_init must be one of {', '.join(SCALE_INITS)}, got {scale_init!r}")
        self.transform = build_transform(transform)
        self._state = ShadowState(seed)
        self.names = select(model, layers, param)
        for name in self.names:
            module = model.get_submodule(name)
            if _shadow_of(module, param) is not None:
                raise ValueError(
                    f"{name + '.' + param!r} is already trained through shadow weights (another ShadowWeights wraps "
                    "it); wrap a model once, or leave the layer out with layers="
                )
            self.transform.check(f"{name}.{param}", getattr(module, param).shape)
        for name in self.names:
            scale = torch.rand((), generator=self._state.generator).item() if scale_init == "uniform" else 1.0
            parametrization = ShadowParametrization(self.transform, self._state, scale if learnable_scale else None)
            parametrize.register_parametrization(model.get_submodule(name), param, parametrization)
        model.register_forward_pre_hook(_DirectCallCheck(self._state))

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
            yield _shadow_of(self.model.get_submodule(name), self.param)

    def plain_weight(self, name: str) -> Tensor:
        """The plain weights (PW) of layer ``name`` as the layer uses them in plain mode (after any parametrization
        registered before the wrapper, such as weight_norm)."""
        with self.mode_as("plain"):
            return getattr(self.model.get_submodule(name), self.param)

    def resample(self) -> None:
        """Draw new transforms for every wrapped layer."""
        for name, p in zip(self.names, self.parametrizations()):
            p.resample(self.plain_weight(name))

    @contextmanager
    def fixed_draws(self) -> Iterator[None]:
        """Call ``sw.model`` directly, in training mode too, with the current draws (no warning): BatchNorm
        recalibration under one fixed shadow weight does."""
        old, self._state.through_wrapper = self._state.through_wrapper, True
        try:
            yield
        finally:
            self._state.through_wrapper = old

    @torch.compiler.disable  # drawing is Python control flow on floats and a counter: torch.compile skips it
    def step(self) -> None:
        """What a training forward does first: draw new shadow weights every ``every`` calls."""
        if self._state.calls % self.every == 0:
            self.resample()
        self._state.calls += 1

    def forward(self, *args, **kwargs):
        if self.training and self.mode == "shadow":
            self.step()
        state, inside = self._state, self._state.through_wrapper  # fixed_draws() by hand: dynamo traces this
        state.through_wrapper = True
        try:
            return self.model(*args, **kwargs)
        finally:
            state.through_wrapper = inside

    def _original_key(self, name: str) -> str:
        module = self.model.get_submodule(name)
        if len(getattr(module.parametrizations, self.param)) > 1:
            raise ValueError(f"{name}.{self.param} has other parametrizations besides the shadow weights: its plain "
                             "weights are not one tensor of a plain state_dict")  # fmt: skip
        return f"{name}.parametrizations.{self.param}.original"

    def load_plain_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load a state_dict of the unwrapped model (a pretrained one, say) into the plain weights; the scales
        and draws stay as they are. Every key must match, as ``load_state_dict(strict=True)`` asks."""
        renamed = {f"{n}.{self.param}": self._original_key(n) for n in self.names}
        mapped = {renamed.get(k, k): v for k, v in state_dict.items()}
        missing, unexpected = self.model.load_state_dict(mapped, strict=False)
        missing = [k for k in missing if not k.endswith(f"parametrizations.{self.param}.0.scale")]
        if missing or unexpected:
            raise ValueError(
                f"the state_dict does not fit the wrapped model: missing {missing}, unexpected {unexpected}"
            )

    def model_copy(self) -> nn.Module:
        """A deep copy of the wrapped model without the wrapper's direct-call hook (parametrizations kept)."""
        model = copy.deepcopy(self.model)
        for hooks in (m._forward_pre_hooks for m in model.modules()):
            for key in [k for k, h in hooks.items() if isinstance(h, _DirectCallCheck)]:
                del hooks[key]
        return model

    def export_plain(self) -> nn.Module:
        """A copy of the model with its plain weights and no parametrizations or hooks: what accuracy mode
        computes, as an ordinary module (parametrizations registered before the wrapper are baked in too)."""
        model = self.model_copy()
        _shadow_of(model.get_submodule(self.names[0]), self.param)._state.mode = "plain"  # the copy's own state
        for name in self.names:
            module = model.get_submodule(name)
            # a deep copy shares parametrize's generated class with the original, and removing a parametrization
            # edits that class: give the copy a class of its own first
            cls = type(module)
            module.__class__ = type(cls.__name__, cls.__bases__, dict(cls.__dict__))
            parametrize.remove_parametrizations(module, self.param, leave_parametrized=True)
        return model

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


def _shadow_of(module: nn.Module, param: str) -> ShadowParametrization | None:
    """The shadow parametrization of ``module.param``, found by type among its parametrizations, or None."""
    if not parametrize.is_parametrized(module, param):
        return None
    return next((p for p in getattr(module.parametrizations, param) if isinstance(p, ShadowParametrization)), None)


def select(model: nn.Module, layers: Selector | None, param: str) -> list[str]:
    """Qualified names of the modules ``layers`` picks that own ``param``; an error if none or unknown."""
    owners = {n: m for n, m in model.named_modules() if isinstance(getattr(m, param, None), Tensor)}
    if isinstance(layers, str):
        layers = [layers]  # one fnmatch pattern
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
