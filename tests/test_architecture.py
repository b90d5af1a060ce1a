"""The house (README "Architecture"): rooms import only downward, and what a contributor adds is
discovered from where it is defined."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import convexlab

ROOT = Path(convexlab.__file__).parent

#: The floors, lowest first. A module may import its own room and any room on a lower floor,
#: never one on its own floor or above (the README's diagram; llm and bench stand beside the stack).
FLOORS: list[set[str]] = [
    {"_validation", "__version__"},
    {"_io", "_cli"},
    {"plotting", "precision"},
    {"linalg"},
    {"geometry"},
    {"optim"},
    {"problems"},
    {"sim"},
    {"theory", "llm"},
    {"lab", "bench"},
    {"cli"},
    {"__main__"},
]
FLOOR = {room: i for i, rooms in enumerate(FLOORS) for room in rooms}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _imports() -> list[tuple[str, str, str, int]]:
    """(source room, target room, file, line) of every convexlab import, also inside functions."""
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        mod = ".".join(rel.parts[:-1] if rel.parts[-1] == "__init__" else rel.parts)
        src = _room(mod) if mod != "convexlab" else "__version__"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "convexlab":
                    targets = [a.name for a in node.names]
                elif node.module.startswith("convexlab."):
                    targets = [_room(node.module)]
            elif isinstance(node, ast.Import):
                targets = [_room(a.name) for a in node.names if a.name.startswith("convexlab.")]
            out += [(src, t, str(path.relative_to(ROOT.parent)), node.lineno) for t in targets if t != src]
    return out


def test_every_room_has_a_floor():
    rooms = {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())) and p.stem != "__init__"}
    assert rooms - set(FLOOR) == set(), "a new top-level module needs a floor in FLOORS and the README diagram"


def test_imports_only_go_down():
    bad = [f"{f}:{line}: {s} (floor {FLOOR.get(s)}) imports {t} (floor {FLOOR.get(t)})"
           for s, t, f, line in _imports() if FLOOR.get(t, 99) >= FLOOR.get(s, -1)]
    assert bad == []


def test_check_modules_are_discovered_not_listed():
    import convexlab.theory as theory

    on_disk = {m.name for m in pkgutil.iter_modules(theory.__path__) if not m.name.startswith("_")}
    assert set(theory.CHECK_MODULES) == on_disk
    defining = {c.func.func.__module__ if hasattr(c.func, "func") else c.func.__module__
                for c in theory.REGISTRY.values()}
    assert {m.rsplit(".", 1)[-1] for m in defining if m.startswith("convexlab.theory.")} <= on_disk


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules([str(ROOT)]) if m.name != "__main__"))
def test_every_top_level_module_imports(name):
    importlib.import_module(f"convexlab.{name}")


def test_every_geometry_declares_its_examples_and_they_are_checked():
    import convexlab.geometry  # noqa: F401  (defines the package's geometries)
    from convexlab.geometry.base import geometry_classes
    from convexlab.theory import REGISTRY
    from convexlab.theory.identities import standard_geometries

    classes = [c for c in geometry_classes(declared=False) if c.__module__.startswith("convexlab.")]
    assert {c.__name__ for c in classes} >= {"Euclidean", "Sign", "Clip", "SoftSign", "StochasticSign", "Spectral"}
    undeclared = [c.__name__ for c in classes if "examples" not in vars(c)]
    assert undeclared == [], "a geometry class must declare examples() (an empty dict with its reason is allowed)"
    labels = set(standard_geometries())
    for c in classes:
        assert set(c.examples()) <= labels
    for label in labels:  # every example is certified on the optimizers' path too
        assert any(name.startswith("geometry.step_path") and name.endswith(f"[{label}]") for name in REGISTRY), label


def test_a_subclass_that_inherits_its_examples_is_not_certified():
    from convexlab.geometry import Sign
    from convexlab.theory.identities import standard_geometries

    class BrokenSign(Sign):  # a test's deliberately broken variant
        def elem_direction(self, m):
            return 1.1 * super().elem_direction(m)

    geos = standard_geometries()
    assert not any(isinstance(g, BrokenSign) or isinstance(getattr(g, "g", None), BrokenSign) for g in geos.values())
    assert type(geos["Sign"]) is Sign and type(geos["Spectral(Sign)"].g) is Sign
