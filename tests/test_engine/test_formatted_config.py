"""FormattedOnceConfig (lvseg/engine/formatted_config.py): the runner's config runs yapf once per content."""
import copy
import pickle

import mmengine.config.config as mmengine_config
import pytest
from mmengine.config import Config

from lvseg.engine.formatted_config import FormattedOnceConfig
from lvseg.engine.runner import LvsegRunner


@pytest.fixture
def yapf_calls(monkeypatch) -> list:
    """Every call of yapf's FormatCode that mmengine's Config makes during the test."""
    calls = []
    original = mmengine_config.FormatCode

    def counted(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(mmengine_config, 'FormatCode', counted)
    return calls


def options() -> dict:
    return dict(model=dict(type='EncoderDecoder', backbone=dict(type='LVViT', arch='small', out_indices=(3, 7))),
                work_dir='work_dirs/x', default_scope='mmseg')


def test_the_text_is_mmengines_and_formatted_once_per_content(yapf_calls):
    plain = Config(options())
    cfg = FormattedOnceConfig.copy_of(plain)
    assert cfg.pretty_text == plain.pretty_text and len(yapf_calls) == 2  # one each
    assert cfg.pretty_text == cfg.dump() and len(yapf_calls) == 2  # read again: no formatting
    cfg.model.backbone.arch = 'medium'
    assert "arch='medium'" in cfg.pretty_text and len(yapf_calls) == 3  # a changed option is formatted again
    assert cfg.pretty_text == Config(cfg.to_dict()).pretty_text


def test_copies_and_pickles_stay_formatted_once_configs_of_the_same_options():
    cfg = FormattedOnceConfig.copy_of(Config(options(), filename='configs/x.py', cfg_text='# the file'))
    text = cfg.pretty_text
    for other in (copy.deepcopy(cfg), copy.copy(cfg), pickle.loads(pickle.dumps(cfg))):
        assert type(other) is FormattedOnceConfig
        assert other.pretty_text == text and other.filename == 'configs/x.py' and other.text == '# the file'
    source = Config(options())
    FormattedOnceConfig.copy_of(source).model.backbone.arch = 'large'
    assert source.model.backbone.arch == 'small'  # a copy: the source is left as it was


def test_the_runner_formats_its_config_once_for_the_log_the_dump_and_the_run_info(tmp_path, yapf_calls):
    cfg = Config(dict(model=dict(type='mmseg.SegDataPreProcessor'), work_dir=str(tmp_path), default_scope='mmseg',
                      runner_type='LvsegRunner', randomness=dict(seed=0)))
    runner = LvsegRunner.from_cfg(cfg)
    assert type(runner.cfg) is FormattedOnceConfig and len(yapf_calls) == 1  # the config logged at start
    runner.dump_config()
    runner.call_hook('before_run')  # RuntimeInfoHook: the text that every checkpoint's meta carries
    assert len(yapf_calls) == 1
    [dumped] = tmp_path.glob('*.py')
    assert runner.message_hub.get_info('cfg') == dumped.read_text() == runner.cfg.pretty_text
