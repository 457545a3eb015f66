"""The library's layout: the method in its own folder, imports pointing one way, no circle."""
import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parent.parent / "lib" / "modeinterp"
LAYERS = ["support", "method", "experiments", "interfaces"]  # each may import only from itself and those before


def _module(path: Path) -> str:
    return ".".join(path.relative_to(LIB.parent).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    """The modeinterp modules that `path` imports (at any depth of the file, relative imports resolved)."""
    package = _module(path).split(".") if path.name == "__init__.py" else _module(path).split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            if not base.startswith("modeinterp"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _exists(candidate) else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("modeinterp")}
    return {m for m in found if _exists(m) and m not in ("modeinterp",) and not _is_package(m)}


def _exists(module: str) -> bool:
    path = LIB.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _is_package(module: str) -> bool:
    return (LIB.parent.joinpath(*module.split(".")) / "__init__.py").exists()


def graph() -> dict[str, set[str]]:
    """Module -> the modeinterp modules it imports, for every module but the top-level __init__."""
    return {_module(p): imports(p) for p in LIB.rglob("*.py") if p.parent != LIB}


def test_the_method_has_its_own_folder():
    method = {p.stem for p in (LIB / "method").glob("*.py")}
    assert {"diffusion", "samplers", "metric", "detection", "windows"} <= method
    assert [p.name for p in LIB.glob("*.py")] == ["__init__.py"]  # no module left outside the four folders


@pytest.mark.parametrize("module", sorted(graph()))
def test_imports_point_one_way(module):
    layer = LAYERS.index(module.split(".")[1])
    for target in graph()[module]:
        assert LAYERS.index(target.split(".")[1]) <= layer, f"{module} imports {target}, a later layer"


def test_no_circle_in_the_import_graph():
    g, state = graph(), {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(g.get(m, ())):
            assert state.get(n) != "open", f"import circle: {' -> '.join(path + [n])}"
            if n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(g):
        if m not in state:
            visit(m, [m])


def test_the_graph_sees_relative_imports():
    g = graph()
    assert "modeinterp.method.diffusion" in g["modeinterp.method.samplers"]
    assert "modeinterp.support.params" in g["modeinterp.method.diffusion"]
    assert "modeinterp.support.runtime" in g["modeinterp.support.parallel"]
