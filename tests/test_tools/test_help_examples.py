"""The example commands in every tool's help (its module docstring) parse as the tool parses its arguments.

Each example's file names are placeholders, so the tool is stopped right after ``parse_args``: what is checked is
that every option, sub-command and number of arguments in the example exists (a renamed option would fail here).
Optional parts written ``[--opt VALUE]`` are checked both left out and given. The ``--cfg-options`` examples of
train/test/pretrain are checked against their configs in test_cfg_options.py.
"""
import argparse
import ast
import re
import runpy
import shlex
import warnings

import pytest
from lvseg_testing.tool_runner import REPO

TOOLS = sorted([*REPO.glob('tools/*.py'), *REPO.glob('tools/analysis/*.py')])


class Parsed(Exception):  # noqa: N818  (a signal, not an error)
    """Raised with the namespace once the tool has parsed its arguments."""


def examples(tool) -> list[list[str]]:
    """The argument lists of the example commands in ``tool``'s docstring: each with its ``[...]`` parts left out,
    and with them given."""
    doc = (ast.get_docstring(ast.parse(tool.read_text())) or '').replace('\\\n', ' ')
    name = re.escape(str(tool.relative_to(REPO)))
    found = []
    for command in re.findall(rf'{name} ([^`\n]*)', doc):
        command = command.split('#')[0].replace('...', ' ')  # 'INPUT [INPUT ...]': more of the same
        for variant in (re.sub(r'\[[^\]]*\]', ' ', command), re.sub(r'[\[\]]', ' ', command)):
            words = shlex.split(variant)
            if words not in found:
                found.append(words)
    return found


def test_every_tool_has_examples():
    without = [tool.name for tool in TOOLS if not examples(tool)]
    assert not without, f'tools whose help shows no example command: {without}'


@pytest.mark.parametrize('tool', TOOLS, ids=lambda tool: tool.name)
def test_each_example_of_each_tool_parses(tool, monkeypatch, capsys):
    parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise Parsed(parse_args(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', parse_then_stop)
    monkeypatch.syspath_prepend(str(tool.parent))
    for words in examples(tool):
        monkeypatch.setattr('sys.argv', [str(tool), *words])
        try:
            with warnings.catch_warnings():  # the tools filter known warnings for their own process
                runpy.run_path(str(tool), run_name='__main__')
        except Parsed:
            continue
        except SystemExit as exit_:
            pytest.fail(f'{tool.name} {" ".join(words)}: exit {exit_.code}: {capsys.readouterr().err[-800:]}')
        pytest.fail(f'{tool.name} {" ".join(words)}: the tool parsed no arguments')
