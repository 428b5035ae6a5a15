"""The house reads as floors: a module imports only its own floor and lower ones, and no imports form a cycle."""

import ast
from pathlib import Path

import weightaug

ROOT = Path(weightaug.__file__).parent
CORE = ("weights", "symmetry", "align", "kernels", "rng", "io", "progress", "registry", "dist", "interop", "tracking")
FLOORS = [
    CORE,
    ("data",),
    ("inr",),
    ("augment",),
    ("models",),
    ("train",),
    ("was",),
    ("experiments",),
    ("options", "cli"),
]


def floor_of(module: str) -> int:
    """The floor of ``weightaug.<top>...`` (the package itself, its ``__init__``, sits with the core)."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    if top in ("", "__main__"):
        return 0 if top == "" else len(FLOORS) - 1
    floors = [k for k, names in enumerate(FLOORS) if top in names]
    assert floors, f"{module} is on no declared floor: add it to FLOORS in {__file__}"
    return floors[0]


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("weightaug", *path.relative_to(ROOT).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(path: Path) -> list[str]:
    """Every weightaug module ``path`` imports, at module level or inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("weightaug"):
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("weightaug")]
    return found


def test_every_import_points_down_the_floors():
    upward = []
    for name, path in modules().items():
        for target in imports(path):
            if floor_of(target) > floor_of(name):
                upward.append(f"{name} imports {target}")
    assert not upward, upward


def test_no_import_cycle():
    known = modules()
    graph = {name: {t for t in imports(path) if t in known and t != name} for name, path in known.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
