"""No module of lvseg, tools/ or bench/ but lvseg/utils/compat.py names a private name of mmengine, mmseg, mmcv,
torch, numpy or timm.

An attribute that starts with one underscore cannot be told apart, in the source, between another library's and one
of lvseg's own classes (``self._x`` on a subclass of mmengine's ``Runner`` is mmengine's). So the rule is practical,
in two parts:

- generic: no ``from <library> import _name``, and no import of a private module of one (``numpy._core``,
  ``torch._dynamo``); no attribute starting with one underscore read from an imported library module (``np._core``);
- by name: none of :data:`PRIVATE_NAMES` (the private names of those libraries that lvseg has needed) as an attribute
  (``runner._train_loop``), as the name of a method (overriding ``CheckpointHook._save_best_checkpoint``), or as a
  string (``getattr(dataset, '_indices')``).

A new need of a private name goes into lvseg/utils/compat.py, with a test in tests/test_utils/test_compat.py, and its
name into this list.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPAT = REPO / 'lvseg' / 'utils' / 'compat.py'
LIBRARIES = ('mmengine', 'mmseg', 'mmcv', 'torch', 'numpy', 'timm')
PRIVATE_NAMES = frozenset({
    # mmengine: Runner
    '_train_loop', '_val_loop', '_test_loop', '_load_from', '_resume', '_has_loaded', '_log_env',
    # mmengine: loops
    '_iter', '_epoch', '_max_iters', '_max_epochs',
    # mmengine: CheckpointHook
    '_save_checkpoint', '_save_checkpoint_with_step', '_save_best_checkpoint', '_publish_model', '_init_rule',
    # mmengine: Config, BaseDataset, HistoryBuffer
    '_cfg_dict', '_metainfo', '_indices', '_statistics_methods',
    # mmengine / mmseg: inferencers
    '_init_model', '_init_pipeline', '_load_weights_to_model', '_init_visualizer',
    # torch
    '_metadata', '_BatchNorm', '_load_from_state_dict',
    # numpy
    '_core', '_reconstruct',
})


def _is_private(name: str) -> bool:
    return name.startswith('_') and not name.startswith('__')


def private_uses(source: str) -> list[str]:
    """``'line: what'`` for each use of another library's private name in the Python ``source``."""
    tree = ast.parse(source)
    library_modules = set()  # local names bound to an imported library module: np, torch, F, ...
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] in LIBRARIES:
                    library_modules.add(alias.asname or alias.name.split('.')[0])
                    found += [f'{node.lineno}: import {alias.name}'
                              for part in alias.name.split('.') if _is_private(part)]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').split('.')[0] in LIBRARIES:
            if any(_is_private(part) for part in node.module.split('.')):
                found.append(f'{node.lineno}: from {node.module} import ...')
            found += [f'{node.lineno}: from {node.module} import {alias.name}'
                      for alias in node.names if _is_private(alias.name)]
        elif isinstance(node, ast.Attribute):
            if node.attr in PRIVATE_NAMES or (_is_private(node.attr) and isinstance(node.value, ast.Name)
                                               and node.value.id in library_modules):
                found.append(f'{node.lineno}: .{node.attr}')
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in PRIVATE_NAMES:
            found.append(f'{node.lineno}: def {node.name}')
        elif isinstance(node, ast.Constant) and node.value in PRIVATE_NAMES:
            found.append(f'{node.lineno}: {node.value!r}')
    return sorted(found, key=lambda line: int(line.split(':')[0]))


def test_no_module_but_compat_names_a_private_name_of_another_library():
    files = sorted(p for folder in ('lvseg', 'tools', 'bench') for p in (REPO / folder).rglob('*.py')
                   if p != COMPAT and '__pycache__' not in p.parts)
    found = {str(p.relative_to(REPO)): uses for p in files if (uses := private_uses(p.read_text()))}
    assert found == {}


def test_compat_names_them():
    """The list is not stale: compat.py names the private names it wraps, and the check sees them there."""
    uses = private_uses(COMPAT.read_text())
    for name in ('_train_loop', '_load_from', '_resume', '_has_loaded', '_indices', '_statistics_methods',
                 '_save_checkpoint_with_step', '_save_best_checkpoint', '_metadata'):
        assert any(name in use for use in uses), name


def test_every_kind_of_use_is_found():
    source = '''
import numpy._core
from torch.nn.modules.batchnorm import _BatchNorm
import numpy as np
x = np._core.multiarray
class Hook(CheckpointHook):
    def _save_best_checkpoint(self, runner, metrics):
        self._train_loop
        getattr(dataset, '_indices', None)
        self._own_attribute
'''
    assert private_uses(source) == ['2: import numpy._core', '3: from torch.nn.modules.batchnorm import _BatchNorm',
                                    '5: ._core', '7: def _save_best_checkpoint', '8: ._train_loop', "9: '_indices'"]
