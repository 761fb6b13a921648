"""Helpers of the reliability tests: run a tool expecting it to fail, and tiny checkpoints to load."""
import fractions
import subprocess

import torch

from lvseg_testing.tool_runner import run_tool


def run_failing_tool(*args: str, nproc: int = 0, timeout: int = 900, env: dict | None = None
                     ) -> subprocess.CompletedProcess:
    """:func:`tool_runner.run_tool` expecting the tool to fail: the finished process; the test fails if the tool
    exits 0 or runs past ``timeout`` seconds. ``env`` adds variables."""
    return run_tool(*args, nproc=nproc, timeout=timeout, env=env, expect_failure=True)


def save_with_foreign_object(checkpoint: dict, path) -> str:
    """Save ``checkpoint`` plus ``meta.note``, a ``fractions.Fraction``: an object that is not weights and not on
    lvseg's allow-list, so weights-only loading refuses the file. Return the offending global's name."""
    checkpoint = dict(checkpoint, meta=dict(checkpoint.get('meta', {}), note=fractions.Fraction(1, 3)))
    torch.save(checkpoint, path)
    return 'fractions.Fraction'
