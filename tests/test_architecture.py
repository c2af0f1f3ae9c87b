"""The layering the architecture promises (docs/architecture.md), checked on every import statement,
including the lazy ones inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "loradoc"


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every loradoc module ``path`` imports, anywhere in the file (names resolved to modules)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("loradoc"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("loradoc"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                is_module = (SRC / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    SRC / sub.replace(".", "/")
                ).is_dir()
                found.add(sub if is_module else node.module)
    return found


GRAPH = {_module(p): _imports(p) for p in PKG.rglob("*.py")}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_lower_layers_never_import_higher_ones() -> None:
    # layer -> packages it must never import
    forbidden = {
        "loradoc.compat": ("loradoc.config", "loradoc.doctor", "loradoc.train", "loradoc.upkeep"),
        "loradoc.config": ("loradoc.doctor", "loradoc.train", "loradoc.upkeep"),
        "loradoc.doctor": ("loradoc.train", "loradoc.upkeep"),
        "loradoc.upkeep": ("loradoc.train", "loradoc.doctor"),
        "loradoc.errors": ("loradoc.compat", "loradoc.doctor", "loradoc.train", "loradoc.upkeep"),
        "loradoc.typed": (
            "loradoc.compat",
            "loradoc.config",
            "loradoc.doctor",
            "loradoc.train",
            "loradoc.upkeep",
        ),
        "loradoc.redact": (
            "loradoc.compat",
            "loradoc.config",
            "loradoc.doctor",
            "loradoc.train",
            "loradoc.upkeep",
        ),
        "loradoc.netcheck": (
            "loradoc.compat",
            "loradoc.config",
            "loradoc.doctor",
            "loradoc.train",
            "loradoc.upkeep",
        ),
        "loradoc.fsutil": (
            "loradoc.compat",
            "loradoc.config",
            "loradoc.doctor",
            "loradoc.train",
            "loradoc.upkeep",
        ),
    }
    bad = [
        f"{mod} imports {target}"
        for mod, targets in GRAPH.items()
        for layer, banned in forbidden.items()
        if _under(mod, layer)
        for target in targets
        if any(_under(target, b) for b in banned)
    ]
    assert bad == []


def test_no_import_circles() -> None:
    def parent_packages(module: str) -> set[str]:
        parts = module.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts))}

    # package faces (__init__) are entered on the way to their modules: not edges of their own
    edges = {m: {t for t in ts if t in GRAPH and t not in parent_packages(m)} for m, ts in GRAPH.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []
