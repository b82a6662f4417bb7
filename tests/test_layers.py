"""The import graph of ``src/ionia`` is layered: no cycles, no upward edge, the protocols
standalone.

Every ``import`` / ``from ... import`` in a module counts, wherever it is: at the top,
inside a function (a lazy import is still a dependency, only a later one), and under
``if TYPE_CHECKING:`` (a module that names an upper layer's type depends on it in the
design, even if not at run time). Only the implicit import of parent packages is left
out: loading ``ionia.rtmp.chunk`` runs ``ionia/__init__.py``, which imports the top of
the library, so counting it would tie every module to every other; that is Python's
package mechanics, not a dependency of the code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: bottom to top. A module may import only from its own layer or below. ``ionia.x`` is
#: that module; ``ionia.x.*`` is a package and everything in it.
LAYERS: list[tuple[str, ...]] = [
    ("ionia.errors", "ionia.redact"),
    ("ionia.clock", "ionia.packet", "ionia.worker", "ionia.checks", "ionia.stats"),
    ("ionia.buffer.*",),
    ("ionia.rtmp.*", "ionia.whip.*"),
    ("ionia.capture.*",),
    ("ionia.encoding.*",),
    ("ionia.output.*",),
    # live services by name (data, key shapes, limits), which the settings are fitted to
    ("ionia.services.*",),
    # the one StreamConfig gathers every layer's settings, above all of them
    ("ionia.config",),
    # one run: assembly from the settings, its destinations, the shared lifecycle
    ("ionia.pipeline.*",),
    ("ionia.streamer", "ionia.recorder", "ionia"),
    ("ionia.analysis.*", "ionia.receiver", "ionia.autoconfig.*"),
    # the engine as a service: drives a streamer for front ends; the CLI serves it
    ("ionia.control.*",),
    ("ionia.cli.*", "ionia.__main__"),
]

#: what the protocol packages may use of the rest of Ionia: the two modules at the very
#: bottom, which import nothing of Ionia (errors; and the key masking every layer applies to
#: text); WHIP, which runs a thread for its event loop, also the one worker lifecycle
PROTOCOL_MAY_IMPORT = {
    "ionia.rtmp": {"ionia.errors", "ionia.redact"},
    "ionia.whip": {"ionia.errors", "ionia.redact", "ionia.worker"},
}

Graph = Mapping[str, Iterable[str]]


def module_names(src: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, is a package) for every module under ``src/ionia``."""
    modules = {}
    for path in sorted((src / "ionia").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        modules[".".join(parts)] = (path, is_package)
    return modules


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module → the Ionia modules it imports (see the module docstring for what counts)."""
    modules = module_names(src)

    def known(name: str) -> str:
        """``name`` itself if it is a module, else the package that defines it."""
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names if _in_ionia(a.name)}
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . import x, from ..y import z
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    origin = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    origin = node.module or ""
                if not _in_ionia(origin):
                    continue
                for alias in node.names:  # from ionia.rtmp import amf0: the module amf0
                    submodule = f"{origin}.{alias.name}"
                    targets.add(submodule if submodule in modules else origin)
        graph[name] = {known(t) for t in targets} - {name}
    return graph


def _in_ionia(name: str) -> bool:
    return name == "ionia" or name.startswith("ionia.")


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as a path (``[a, b, c, a]``), or None when the graph has none."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph.get(node, ())):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done and (cycle := visit(target)) is not None:
                return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done and (cycle := visit(start)) is not None:
            return cycle
    return None


def layer_of(module: str, layers: list[tuple[str, ...]] = LAYERS) -> int:
    for index, entries in enumerate(layers):
        for entry in entries:
            if module == entry.removesuffix(".*") or (
                entry.endswith(".*") and module.startswith(entry[:-1])
            ):
                return index
    raise LookupError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def upward_edges(graph: Graph, layers: list[tuple[str, ...]] = LAYERS) -> list[str]:
    return [
        f"{source} (layer {layer_of(source, layers)}) imports "
        f"{target} (layer {layer_of(target, layers)})"
        for source in sorted(graph)
        for target in sorted(graph[source])
        if layer_of(target, layers) > layer_of(source, layers)
    ]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SRC)


def test_the_import_graph_has_no_cycle(graph: dict[str, set[str]]) -> None:
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_every_module_is_in_a_layer(graph: dict[str, set[str]]) -> None:
    for module in graph:
        layer_of(module)  # raises, naming the module


def test_no_module_imports_from_a_layer_above_its_own(graph: dict[str, set[str]]) -> None:
    assert upward_edges(graph) == []


@pytest.mark.parametrize("protocol", sorted(PROTOCOL_MAY_IMPORT))
def test_protocols_are_standalone(graph: dict[str, set[str]], protocol: str) -> None:
    modules = [m for m in graph if m.startswith(f"{protocol}.") or m == protocol]
    assert modules, f"no {protocol} package found"
    outside = {
        f"{m} imports {t}"
        for m in modules
        for t in graph[m]
        if not t.startswith(protocol) and t not in PROTOCOL_MAY_IMPORT[protocol]
    }
    assert outside == set()


# -- the checks themselves can fail -----------------------------------------------------------


def test_find_cycle_reports_a_cycle_and_accepts_a_dag() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None


def test_upward_edges_are_found() -> None:
    layers = [("low",), ("high.*",)]
    assert upward_edges({"low": {"high.x"}, "high.x": {"low"}}, layers) == [
        "low (layer 0) imports high.x (layer 1)"
    ]
    assert upward_edges({"high.x": {"low", "high.y"}, "high.y": set(), "low": set()}, layers) == []
    with pytest.raises(LookupError, match="other is in no layer"):
        layer_of("other", layers)


def test_the_graph_sees_imports_in_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    package = tmp_path / "ionia"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text("")
    (package / "other.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "mod.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ionia.low import X\n"
        "def f():\n    from .. import other\n    import ionia.sub\n"
    )
    assert import_graph(tmp_path)["ionia.sub.mod"] == {"ionia.low", "ionia.other", "ionia.sub"}
