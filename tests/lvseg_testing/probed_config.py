"""Tool runs with :class:`~lvseg_testing.rank_probe.RankProbeHook` loaded: the config file that adds it, and the
environment that lets the run import it; ``--cfg-options default_hooks.rank_probe.kill_after=k`` then makes the run
SIGKILL itself after iteration ``k``, once that iteration's checkpoint is on disk (exit status -9 in one process)."""
import os
from pathlib import Path

TESTS = str(Path(__file__).resolve().parents[1])


def probed_config(config: Path, folder: Path) -> Path:
    """A config, written into ``folder``, that is ``config`` with the probe among its default hooks, tagged 'run'
    (custom imports are read with the config file, so they cannot come from ``--cfg-options``). ``folder`` should
    not be the work dir, where the runner dumps the config it ran."""
    path = folder / f'probed_{config.name}'
    path.write_text(f"_base_ = ['{config}']\n"
                    "custom_imports = dict(imports=['lvseg', 'lvseg_testing.rank_probe'], allow_failed_imports=False)\n"
                    "default_hooks = dict(rank_probe=dict(type='RankProbeHook', tag='run'))\n")
    return path


def probe_env() -> dict[str, str]:
    """The variables a tool run needs to import ``lvseg_testing`` (``tests/`` on ``PYTHONPATH``) when it starts a
    fresh interpreter (torchrun, ``LVSEG_TEST_SUBPROCESS=1``); for :func:`tool_runner.run_tool`'s ``env``."""
    return {'PYTHONPATH': os.pathsep.join(filter(None, [TESTS, os.environ.get('PYTHONPATH')]))}
