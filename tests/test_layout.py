"""The layout's rules, read from the source with ``ast`` (nothing is imported):

- the file-level import graph of models/, realtime/, kernels/, bench/ and tools/ (absolute and
  relative imports, function-local ones included) has no cycle;
- models/ never imports realtime/, bench/ or tools/; kernels/ imports none of models/, realtime/;
- no library module under models/, realtime/ or kernels/ runs as a program (``if __name__ ==
  "__main__"``): programs are ``__main__.py`` files, run_live.py and the modules of bench/ and tools/.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "realtime", "kernels", "bench", "tools")
LIBRARY = ("models", "realtime", "kernels")


def _module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages (a package is its __init__)."""
    files = {}
    for top in PACKAGES:
        for path in sorted((REPO / top).rglob("*.py")) if (REPO / top).is_dir() else []:
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    return files


def _imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name an import statement of ``path`` can load (``from a import b``: a and a.b)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the packages it imports (the most specific existing name of each import)."""
    files = _module_files()
    graph = {}
    for module, path in files.items():
        edges = set()
        for name in _imported_names(path, module):
            while name and name not in files:
                name = name.rpartition(".")[0]
            if name and name != module:
                edges.add(name)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
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


def test_no_import_cycles():
    assert find_cycles(import_graph()) == []


def test_layers():
    bad = []
    for module, edges in import_graph().items():
        top = module.split(".")[0]
        forbidden = {"models": ("realtime", "bench", "tools"), "kernels": ("models", "realtime", "bench", "tools")}
        for target in edges:
            if target.split(".")[0] in forbidden.get(top, ()):
                bad.append(f"{module} -> {target}")
    assert bad == []


def _runs_as_program(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            sides = [node.test.left, *node.test.comparators]
            if any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides) and \
                    any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides):
                return True
    return False


def test_library_modules_are_not_programs():
    programs = [str(path.relative_to(REPO)) for top in LIBRARY for path in sorted((REPO / top).rglob("*.py"))
                if path.name != "__main__.py" and _runs_as_program(path)]
    assert programs == []


def test_the_graph_sees_function_local_and_relative_imports(tmp_path):
    """The reader itself: a local import and a relative one are edges, and a cycle is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from models.body import base\n    from . import joints\n    import kernels.common\n")
    names = _imported_names(source, "models.body.m")
    assert {"models.body", "models.body.base", "models.body.joints", "kernels.common"} <= names
