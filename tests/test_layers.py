"""The layers hold: nst_core imports neither bpy nor torch (and runs with both impossible to
import), no import circle inside nst_core or addon, and only addon/engine.py reaches into the
bundled engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("nst_core", "addon")

CODE = """
import sys
sys.modules['torch'] = None
sys.modules['bpy'] = None
import numpy as np, nst_core
rgb = np.random.default_rng(0).random((40, 40, 3), dtype=np.float32)
r = nst_core.stylize(rgb, rgb, method='wct', device='cpu')
assert r.image.shape == (40, 40, 3)
assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]
print('ok')
"""


def test_no_torch_no_bpy(models_dir):
    r = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300,
                       env={"NST_MODELS_DIR": str(models_dir), "PATH": ""})
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def imports(package: Path) -> dict[str, set[str]]:
    """module -> the modules of the same package it imports (relative imports, read with ast,
    wherever they stand in the file: a function-level import closes a circle too)."""
    names = {p.stem for p in package.glob("*.py")}
    graph = {}
    for path in package.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module is None:                     # from . import a, b
                    found |= {a.name for a in node.names if a.name in names}
                elif node.module.split(".")[0] in names:    # from .a import x
                    found.add(node.module.split(".")[0])
        graph[path.stem] = found - {path.stem, "__init__"}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each once (depth-first search for back edges)."""
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_circles_are_found():
    """The check itself: a circle and a self-free chain."""
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle(package):
    assert circles(imports(ROOT / package)) == []


def test_only_engine_imports_the_engine():
    reach = {p.name for p in (ROOT / "addon").glob("*.py")
             if any(isinstance(n, ast.ImportFrom) and n.level == 1 and (n.module or "").startswith("nst_core")
                    or isinstance(n, ast.ImportFrom) and n.level == 1 and n.module is None
                    and any(a.name == "nst_core" for a in n.names)
                    for n in ast.walk(ast.parse(p.read_text())))}
    assert reach == {"engine.py"}


def test_the_engine_door_takes_only_the_public_api():
    """addon/engine.py imports names from the package nst_core alone (no module of it), and each
    is in nst_core.__all__."""
    import nst_core
    tree = ast.parse((ROOT / "addon" / "engine.py").read_text())
    taken = [(n.module, a.name) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
             and n.level == 1 and (n.module or "").startswith("nst_core") for a in n.names]
    assert taken and all(module == "nst_core" for module, _ in taken), taken
    assert {name for _, name in taken} <= set(nst_core.__all__)


def test_every_module_stays_small():
    """One concern a module: none in nst_core or addon over 400 lines."""
    sizes = {p: len(p.read_text().splitlines()) for package in ("nst_core", "addon")
             for p in (ROOT / package).glob("*.py")}
    assert max(sizes.values()) <= 400, {str(p): n for p, n in sizes.items() if n > 400}
