"""The structure docs/ARCHITECTURE.md describes: no module of sim/ imports in a circle, and the core never
imports the app layer, Hydra or matplotlib."""

from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parents[1] / "sim"
#: The core (docs/ARCHITECTURE.md): it runs from a notebook or a test, without the app's stack.
CORE = ("sim.model", "sim.measurement", "sim.phases", "sim.recommenders", "sim.contact", "sim.moderation",
        "sim.safeguards", "sim.age_assurance", "sim.engagement", "sim.population", "sim.network", "sim.content",
        "sim.metrics", "sim.agents", "sim.config", "sim.registry", "sim.vocabulary",
        "sim.compiled", "sim.libm")
APP_ONLY = ("hydra", "omegaconf", "matplotlib", "sim.app", "sim.preflight", "sim.sweep", "sim.compose",
            "sim.analysis", "sim.runner", "sim.io", "sim.__main__")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SIM.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Every sim module ``path`` imports, at module level or inside a function, type-only imports included."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # "from sim import registry" depends on the module sim.registry, not on the package sim.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        for target in targets:
            # "from sim.phases.serve import serve" depends on sim.phases.serve (and, by Python's rules,
            # on the package sim.phases, whose __init__ imports nothing).
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    files = [p for p in SIM.rglob("*.py") if "configs" not in p.parts]
    modules = {_module_name(p) for p in files}
    return {_module_name(p): _imports(p, modules) for p in files}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_module_of_sim_imports_in_a_circle():
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_does_not_import_the_app_layer():
    graph = _graph()
    offenders = {m: sorted(t for t in deps if t.startswith(APP_ONLY))
                 for m, deps in graph.items() if m.startswith(CORE)}
    assert {m: d for m, d in offenders.items() if d} == {}
    for path in SIM.rglob("*.py"):
        if _module_name(path).startswith(CORE):
            text = path.read_text()
            assert "import hydra" not in text and "from hydra" not in text, path
            assert "matplotlib" not in text, path


#: The layers of docs/ARCHITECTURE.md, top first; a module may import from its own layer and those below.
LAYERS = (
    ("sim.__main__", "sim.analysis.__main__", "sim.page", "sim.calibrate", "sim.sensitivity"),
    ("sim.preflight", "sim.app", "sim.sweep", "sim.watchdog", "sim.compose", "sim.analysis"),
    ("sim.runner", "sim.io", "sim.inputs", "sim.resources", "sim.design"),
    ("sim.model", "sim.measurement"),
    ("sim.phases",),
    ("sim.recommenders", "sim.contact", "sim.moderation", "sim.safeguards", "sim.age_assurance", "sim.engagement",
     "sim.engagement_kernels"),
    ("sim.population", "sim.network", "sim.content", "sim.detection", "sim.metrics", "sim.agents"),
    ("sim.config", "sim.registry", "sim.vocabulary", "sim.compiled", "sim.draws", "sim.pcg64", "sim.libm"),
)


def _layer(module: str) -> int | None:
    for depth, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return depth
    return None


def test_every_module_imports_only_from_its_layer_or_below():
    graph = _graph()
    upward = sorted(f"{m} -> {t}" for m, deps in graph.items() for t in deps
                    if _layer(m) is not None and _layer(t) is not None and _layer(t) < _layer(m))
    assert upward == []
    unplaced = sorted(m for m in graph if m != "sim" and _layer(m) is None)
    assert unplaced == []            # a new module must be given a layer (here and in docs/ARCHITECTURE.md)


def test_the_cores_numpy_code_takes_float64_exp_log1p_and_power_from_sim_libm():
    """numpy's own versions differ by CPU (sim.libm); compiled kernels (numba calls the C library) may use np.exp."""
    calls = ("np.exp(", "np.log1p(", "np.power(")
    offenders = sorted(f"{_module_name(path)}: {call}" for path in SIM.rglob("*.py")
                       if _module_name(path).startswith(CORE) and not _module_name(path).endswith("kernels")
                       and _module_name(path) != "sim.libm" for call in calls if call in path.read_text())
    assert offenders == []
