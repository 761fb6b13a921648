"""The house's import rules, read from the code (its ``import`` statements, parsed, not grepped).

- The engine is the top floor: no package of lvseg but ``lvseg.engine`` imports ``lvseg.engine`` (relative imports
  such as ``from ..engine import x`` count). ``lvseg/__init__.py`` is the one exception: it imports every package so
  that ``custom_imports=['lvseg']`` registers them.
- The demo is the demo's: nothing in ``lvseg/``, ``tools/`` or ``bench/`` imports ``lvseg.demo`` but the demo itself
  and its tool, ``tools/make_demo_data.py`` (``tools/demo.sh`` runs that tool). The tests may.
- The wheelhouse stands alone: ``lvseg.infra.wheelhouse`` imports the standard library, ``packaging`` and its own
  modules only, because ``tools/setup_env.sh`` runs it before lvseg's requirements are installed.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / 'lvseg'
DEMO_TOOLS = {'tools/make_demo_data.py'}


def module_name(path: Path, root: Path = REPO) -> str:
    """``<root>/lvseg/engine/runner.py`` -> ``lvseg.engine.runner``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(root).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(path: Path, root: Path = REPO) -> set[str]:
    """The absolute names of the modules (and of the names in them) that ``path`` imports, relative imports
    resolved against the module's package."""
    name = module_name(path, root)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')[:len(package.split('.')) - (node.level - 1)]
                module = '.'.join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ''
            found.add(module)
            found.update(f'{module}.{alias.name}' for alias in node.names)
    return found


def imports_of(paths: list[Path], package: str, root: Path = REPO) -> dict[str, list[str]]:
    """``{file: the imports of package (or of a module in it)}`` for the files that import it."""
    found = {}
    for path in paths:
        hits = sorted(m for m in imported_modules(path, root) if m == package or m.startswith(package + '.'))
        if hits:
            found[str(path.relative_to(root))] = hits
    return found


def python_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (REPO / folder).rglob('*.py') if '__pycache__' not in p.parts)


def test_only_the_engine_imports_the_engine():
    below_the_engine = [p for p in python_files('lvseg')
                        if not p.is_relative_to(PACKAGE / 'engine') and p != PACKAGE / '__init__.py']
    assert imports_of(below_the_engine, 'lvseg.engine') == {}


@pytest.mark.parametrize('folder', ['lvseg', 'tools', 'bench'])
def test_only_the_demo_and_its_tool_import_the_demo(folder):
    outside_the_demo = [p for p in python_files(folder)
                        if not p.is_relative_to(PACKAGE / 'demo') and str(p.relative_to(REPO)) not in DEMO_TOOLS]
    assert imports_of(outside_the_demo, 'lvseg.demo') == {}


def test_the_wheelhouse_imports_the_standard_library_packaging_and_itself_only():
    wheelhouse = 'lvseg.infra.wheelhouse'
    outside = {str(path.relative_to(REPO)): sorted(
        m for m in imported_modules(path) if not m.startswith(wheelhouse + '.')
        and m.split('.')[0] not in {*sys.stdlib_module_names, 'packaging'})
        for path in python_files('lvseg/infra/wheelhouse')}
    assert set(outside) >= {'lvseg/infra/wheelhouse/install.py', 'lvseg/infra/wheelhouse/build.py'}
    assert {path: found for path, found in outside.items() if found} == {}


def test_the_reader_finds_relative_imports_of_the_engine_and_the_demo(tmp_path):
    """A file that breaks both rules is found: ``from ..engine.x import y`` and ``from ..demo import z`` in a
    module of lvseg.datasets."""
    offender = tmp_path / 'lvseg' / 'datasets' / 'offender.py'
    offender.parent.mkdir(parents=True)
    offender.write_text('from ..engine.bad_samples import CheckedDataset\nfrom ..demo import synthetic\n')
    assert imports_of([offender], 'lvseg.engine', root=tmp_path) == {
        'lvseg/datasets/offender.py': ['lvseg.engine.bad_samples', 'lvseg.engine.bad_samples.CheckedDataset']}
    assert imports_of([offender], 'lvseg.demo', root=tmp_path) == {
        'lvseg/datasets/offender.py': ['lvseg.demo', 'lvseg.demo.synthetic']}
