"""The shape of the code, kept: sizes, layers, no import cycle, one name per module, the map.

Each check reads the source (``ast``), so it needs no import of what it checks.  The layers:
``games`` and ``storage`` import nothing above them; ``wire`` nothing but itself (and never a
socket); ``net`` only ``wire`` and ``support``; the client never the server's parts.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROGRAMS = ("server.py", "pclient.py", "aclient.py", "protocol.py")
MODULE_LINES, CLASS_LINES = 400, 250


def sources() -> Iterator[Path]:
    """Every Python file of the project but the tests."""
    for path in sorted(ROOT.rglob("*.py")):
        if not any(part in (".venv", "tests", ".git", "build") for part in path.parts):
            yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    found = {module_name(p): p for p in sorted((ROOT / "guessnet").rglob("*.py"))}
    found.update({module_name(ROOT / p): ROOT / p for p in PROGRAMS})
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The project modules ``path`` imports, ``TYPE_CHECKING`` blocks included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    known = package_modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


@pytest.mark.parametrize("path", list(sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_or_class_outgrows_its_limit(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MODULE_LINES, f"{path.name}: split it first"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            assert lines <= CLASS_LINES, f"class {node.name} is {lines} lines"


def test_no_import_cycle() -> None:
    edges = graph()
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            loop = [*trail[trail.index(name):], name]
            raise AssertionError("import cycle: " + " -> ".join(loop))
        if name in done:
            return
        for other in sorted(edges[name]):
            visit(other, [*trail, name])
        done.add(name)

    for name in sorted(edges):
        visit(name, [])


def test_no_two_modules_share_a_name() -> None:
    names: dict[str, Path] = {}
    for path in package_modules().values():
        if path.name == "__init__.py":
            continue
        assert path.stem not in names, (path, names.get(path.stem))
        names[path.stem] = path


LAYERS = {  # package -> the packages it may import (besides itself)
    "guessnet.games": set(),
    "guessnet.storage": set(),
    "guessnet.wire": set(),
    "guessnet.support": {"guessnet.wire"},
    "guessnet.net": {"guessnet.wire", "guessnet.support"},
    "guessnet.client": {"guessnet.wire", "guessnet.net", "guessnet.support", "guessnet.games"},
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_each_layer_imports_only_what_lies_below_it(layer: str) -> None:
    allowed = LAYERS[layer] | {layer}
    for name, deps in graph().items():
        if name == layer or name.startswith(layer + "."):
            wrong = {d for d in deps if not any(d == a or d.startswith(a + ".")
                                                for a in allowed)}
            assert not wrong, f"{name} imports {sorted(wrong)}"


def test_the_wire_never_touches_a_socket() -> None:
    for path in (ROOT / "guessnet" / "wire").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not names & {"socket", "ssl", "select"}, path


def readme_blocks() -> dict[str, str]:
    """The README map's lines by top folder (``guessnet/net``: its header line and the
    indented lines under it)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How it is built", 1)[1].split("\n## ", 1)[0]
    blocks: dict[str, str] = {}
    folder = ""
    for line in section.splitlines():
        if line and not line[0].isspace():
            folder = line.split()[0].rstrip("/") if line.startswith("guessnet/") else ""
        if folder:
            blocks[folder] = blocks.get(folder, "") + line + "\n"
    return blocks


def test_every_module_is_on_the_readme_map() -> None:
    blocks = readme_blocks()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in package_modules().values():
        relative = path.relative_to(ROOT)
        if len(relative.parts) == 1:  # the programs at the top
            assert path.name in readme, path.name
            continue
        if path.name == "__init__.py":
            continue
        folder = "/".join(relative.parts[:2])
        block = blocks.get(folder, "")
        nested = relative.parts[2:-1]
        assert all(f"{part}/" in block for part in nested) and \
            re.search(rf"\b{re.escape(path.name)}\b", block), \
            f"{relative} is missing from the README's map"


def test_the_wire_names_every_name_of_its_modules() -> None:
    from guessnet import wire
    from guessnet.wire import codec, hosting, messages, schema
    assert set(wire.__all__) == {*schema.__all__, *messages.__all__, *codec.__all__,
                                 *hosting.__all__}


def test_no_client_function_is_complex() -> None:
    """The clients have the server's shape: tables and small functions, no long if/elif chains
    (radon's grade B or better: a cyclomatic complexity of at most 10)."""
    from radon.complexity import cc_visit

    for path in sorted((ROOT / "guessnet" / "client").glob("*.py")):
        for block in cc_visit(path.read_text(encoding="utf-8")):
            assert block.complexity <= 10, f"{path.name}: {block.name} is {block.complexity}"
