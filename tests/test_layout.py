"""The shape of `libraries/mod`: its import graph has no cycle and points one way, runtime ← build ← server, cloud ← cli.

Imports are read with `ast` from the exported files, without importing anything: every `import`/`from` statement
(also those inside functions, which hide a cycle from Python but not from a reader) and every string literal that
names a module of `mod` exactly (`import_module("mod.cloud.score")`, the CLI's command table), the dynamic imports.
"""
import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "libraries" / "mod"
LAYERS = {"core": 0, "build": 1, "server": 2, "cloud": 2, "cli": 3}  # a module may import its own layer or lower


def module_name(path: Path) -> str:
    parts = list(path.relative_to(LIB.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict:
    return {module_name(p): p for p in sorted(LIB.rglob("*.py"))}


def _owner(name: str, known) -> str | None:
    "The module of `mod` that `name` (a module, or a name inside one) refers to."
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in known else None


def imports(name: str, path: Path, known) -> set:
    "The modules of `mod` that module `name` imports, statically or by a string naming one."
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            found.add(node.value)
    return {m for n in found if n == "mod" or n.startswith("mod.") if (m := _owner(n, known)) and m != name}


def graph() -> dict:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def layer(name: str) -> int | None:
    "The layer of a module (None for `mod` itself and nbdev's `_modidx`, which import nothing)."
    parts = name.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def cycle(edges: dict) -> list | None:
    "One import cycle in `edges` (a list of modules, first repeated at the end), or None."
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read():
    g = graph()
    assert {"mod.core", "mod.build.package", "mod.server.app", "mod.cloud.deploy", "mod.cli"} <= set(g)
    assert "mod.core" in g["mod.build.package"]
    assert "mod.cloud.score" in g["mod.cli"]  # named in a string only: a dynamic import counts


def test_every_module_has_a_layer():
    unplaced = [m for m in graph() if layer(m) is None and m not in ("mod", "mod._modidx")]
    assert not unplaced, f"modules outside core/build/server/cloud/cli: {unplaced}; give each a place in LAYERS"


def test_no_import_cycle():
    assert cycle(graph()) is None, " -> ".join(cycle(graph()))


def test_imports_point_one_way():
    wrong = [f"{m} imports {n}" for m, targets in graph().items() for n in sorted(targets)
             if layer(m) is not None and layer(n) is not None
             and (layer(n) > layer(m) or (layer(n) == layer(m) and m.split(".")[1] != n.split(".")[1]))]
    assert not wrong, ("imports must go runtime (core) <- build <- server, cloud <- cli, and server and cloud not "
                       "into each other:\n" + "\n".join(wrong))


def test_the_checks_catch_what_they_should():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
    assert (layer("mod.core"), layer("mod.build.rules"), layer("mod.cloud.deploy"), layer("mod.cli")) == (0, 1, 2, 3)
