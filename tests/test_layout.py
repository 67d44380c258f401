"""The package's shape: layers, module and class sizes, a declared objective interface.

Read from the source with :mod:`ast` (nothing is imported). Code lines are the lines
of a node that are not blank, comment or docstring. The rules are the ones
docs/architecture.md states:

- imports flow estimators -> solvers, inference -> objective -> loss, with
  ``_validation`` at the bottom; solvers and inference do not import each other,
  ``_dask`` does not import the estimators, the ``_study`` application is imported by
  nothing in the library;
- no import cycle between modules;
- no module over 600 code lines, no class over 350;
- no run-time probing of an objective (``getattr``/``hasattr`` on it): what an
  objective can do is declared by :class:`sklearn_neuron._objective.protocol.Objective`;
- no ``_inference_*`` hooks on estimators;
- ``class_weight="balanced"`` computed in one module.
"""

import ast
import pathlib
from collections import defaultdict

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "sklearn_neuron"
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 350
ESTIMATORS = {"_base", "_classifier", "_classifier_cv", "_regressor"}
#: Package -> packages (first component under sklearn_neuron) it must not import.
FORBIDDEN = {
    "_loss": {"_objective", "_solvers", "_inference", "_dask", "_study", *ESTIMATORS},
    "_objective": {"_solvers", "_inference", "_dask", "_study", *ESTIMATORS},
    "_solvers": {"_inference", "_dask", "_study", *ESTIMATORS},
    "_inference": {"_solvers", "_dask", "_study", *ESTIMATORS},
    "_dask": {"_study", *ESTIMATORS},
    "_validation": {"_loss", "_objective", "_solvers", "_inference", "_dask", "_study",
                    *ESTIMATORS},
}


def _module_name(path):
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _parse():
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        modules[_module_name(path)] = (path, source.splitlines(), ast.parse(source))
    return modules


MODULES = _parse()


def _code_lines(lines, node):
    docstrings = set()
    for n in ast.walk(node):
        if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = n.body[0] if n.body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    start, end = getattr(node, "lineno", 1), getattr(node, "end_lineno", len(lines))
    return sum(
        1 for i in range(start, end + 1)
        if i not in docstrings and lines[i - 1].strip()
        and not lines[i - 1].strip().startswith("#")
    )


def _imports(name, path, tree):
    """Modules of the package that ``name`` imports (relative imports, anywhere in it)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                full = f"{target}.{alias.name}" if target else alias.name
                found.add(full if full in MODULES else target)
    return {m for m in found if m in MODULES and m not in ("", name)}


GRAPH = {name: _imports(name, path, tree) for name, (path, _, tree) in MODULES.items()}


def test_modules_found():
    assert {"_classifier", "_objective.protocol", "_loss.losses"} <= set(MODULES)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_flow_down_the_layers(layer):
    wrong = sorted(
        f"{name} imports {dep}"
        for name, deps in GRAPH.items()
        if name.split(".")[0] == layer
        for dep in deps
        if dep.split(".")[0] in FORBIDDEN[layer]
    )
    assert not wrong, wrong


def test_library_does_not_import_the_study():
    wrong = sorted(
        f"{name} imports {dep}" for name, deps in GRAPH.items()
        if not name.startswith("_study") and name != "__main__"
        for dep in deps if dep.startswith("_study")
    )
    assert not wrong, wrong


def test_no_import_cycle():
    # Tarjan's strongly connected components; package __init__ files excluded
    # (they only re-export).
    graph = {a: {b for b in bs if b in GRAPH and b != ""} for a, bs in GRAPH.items() if a}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
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
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, cycles


def test_module_and_class_sizes():
    too_big = []
    for name, (_, lines, tree) in MODULES.items():
        n = _code_lines(lines, tree)
        if n > MAX_MODULE_LINES:
            too_big.append(f"module {name}: {n} code lines")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                n = _code_lines(lines, node)
                if n > MAX_CLASS_LINES:
                    too_big.append(f"class {name}.{node.name}: {n} code lines")
    assert not too_big, too_big


def test_no_probing_of_objectives():
    probes = [
        f"{name}:{node.lineno}"
        for name, (_, _, tree) in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr") and node.args
        and "objective" in ast.unparse(node.args[0]).lower()
    ]
    assert not probes, probes


def test_no_inference_hooks():
    hooks = [
        f"{name}.{node.name}"
        for name, (_, _, tree) in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("_inference_")
    ]
    assert not hooks, hooks


def test_balanced_class_weights_in_one_module():
    computing = defaultdict(int)
    for name, (_, lines, tree) in MODULES.items():
        source = "\n".join(lines)
        if "compute_class_weight" in source and any(
            isinstance(n, ast.Constant) and n.value == "balanced" for n in ast.walk(tree)
        ):
            computing[name] += 1
    assert len(computing) <= 1, sorted(computing)
