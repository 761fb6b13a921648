"""Each known third-party warning is ignored where lvseg's tools ignore it, and still shown everywhere else; each
is raised here by the code of mmengine or mmseg that raises it in a run (:mod:`lvseg_testing.warning_triggers`)."""
import os
import re
import subprocess
import sys
import uuid
import warnings

import pytest
from lvseg_testing.tool_runner import REPO
from lvseg_testing.warning_triggers import LOG_TRIGGERS, TRIGGERS, decode_head_loss
from mmengine.logging import MMLogger

from lvseg.engine.console_log import quiet_logger
from lvseg.utils.known_warnings import KNOWN_LOG_WARNINGS, KNOWN_WARNINGS, ignore_known_warnings


def shown(trigger, tools_filters: bool) -> list[str]:
    """The messages of the warnings that ``trigger`` raises, every one shown, but for those that lvseg's tools
    ignore when ``tools_filters``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        if tools_filters:
            ignore_known_warnings()
        trigger()
    return [str(warning.message) for warning in caught]


def without_warning_options() -> dict[str, str]:
    """This environment without PYTHONWARNINGS: Python's default warning filters."""
    return {key: value for key, value in os.environ.items() if key != 'PYTHONWARNINGS'}


def test_every_filter_is_tested_with_the_code_that_raises_its_warning():
    assert sorted(known.message for known in KNOWN_WARNINGS) == sorted(TRIGGERS)
    assert sorted(known.message for known in KNOWN_LOG_WARNINGS) == sorted(LOG_TRIGGERS)


@pytest.mark.parametrize('known', KNOWN_WARNINGS, ids=lambda known: known.message[:24])
def test_a_known_warning_is_ignored_under_the_tools_filters_only(known, monkeypatch):
    monkeypatch.setattr(sys, 'warnoptions', [])
    trigger = TRIGGERS[known.message]
    assert any(re.match(known.message, message) for message in shown(trigger, tools_filters=False))
    assert not any(re.match(known.message, message) for message in shown(trigger, tools_filters=True))


def test_the_users_own_warning_options_stand(monkeypatch):
    monkeypatch.setattr(sys, 'warnoptions', ['default'])  # python -W default, or PYTHONWARNINGS=default
    assert any(message.startswith('``build_loss``') for message in shown(decode_head_loss, tools_filters=True))


def test_importing_lvseg_leaves_every_warning_shown():
    program = ('import lvseg\n'
               'from lvseg_testing.warning_triggers import TRIGGERS\n'
               'for trigger in dict.fromkeys(TRIGGERS.values()):\n'
               '    trigger()\n')
    result = subprocess.run([sys.executable, '-c', program], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={**without_warning_options(), 'PYTHONPATH': str(REPO / 'tests')})
    assert result.returncode == 0, result.stderr[-3000:]
    for known in KNOWN_WARNINGS:
        assert re.search(known.message, result.stderr), known.message


@pytest.mark.parametrize('known', KNOWN_LOG_WARNINGS, ids=lambda known: known.message[:24])
def test_a_known_log_warning_is_dropped_by_an_lvseg_runs_logger_only(known, tmp_path, capsys):
    trigger = LOG_TRIGGERS[known.message]
    plain_log, quiet_log = tmp_path / 'plain.log', tmp_path / 'quiet.log'
    MMLogger.get_instance(f'plain-{uuid.uuid4()}', log_file=str(plain_log))  # the latest: print_log's 'current'
    trigger()
    assert re.search(known.message, capsys.readouterr().out) and re.search(known.message, plain_log.read_text())

    quiet_logger(MMLogger.get_instance(f'quiet-{uuid.uuid4()}', log_file=str(quiet_log)))  # as LvsegRunner's is
    trigger()
    assert not re.search(known.message, capsys.readouterr().out)
    assert not re.search(known.message, quiet_log.read_text())
