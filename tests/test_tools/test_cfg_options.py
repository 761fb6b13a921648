"""``--cfg-options`` as the tools take them: a misspelt key stops tools/train.py, tools/test.py and
tools/pretrain.py before any data are read, with one ``error:`` line naming the closest key; the examples of their
``--help``, of tools/gpu_check.py (lvseg/infra/gpu_check/plan.py) and of tools/demo.sh pass the check on the
configs they are given for."""
import argparse
import re
import shlex

import pytest
from lvseg_testing.tool_runner import (
    DEMO_CONFIG,
    PRETRAIN_DEMO_CONFIG,
    REPO,
    demo_overrides,
    import_tool,
    pretrain_overrides,
    run_tool,
)
from mmengine.config import Config, DictAction

from lvseg.engine import launch
from lvseg.engine.config_keys import check_arguments, check_overrides
from lvseg.infra.gpu_check import plan as gpu_check_plan

HEADLINE_CONFIG = REPO / 'configs/upernet_lvvit.py'
PRETRAIN_CONFIG = REPO / 'configs/pretrain/lvvit-s_tokenlabel_8xb128-310e_in1k-224.py'
TRIAN_CFG = ("error: --cfg-options trian_cfg.max_iters: the config has no key 'trian_cfg', and nothing reads one: "
             'did you mean train_cfg?')
PRETRIANED = ("error: --cfg-options model.pretrianed: model builds EncoderDecoder, which takes no argument "
              "'pretrianed': did you mean pretrained?")
MAX_ITERS = ("error: --cfg-options train_cfg.max_iters: train_cfg builds ResumableEpochBasedTrainLoop, which takes "
             "no argument 'max_iters': did you mean max_epochs?")
INTREVAL = ("error: --cfg-options default_hooks.checkpoint.intreval: default_hooks.checkpoint builds "
            "AtomicCheckpointHook, which takes no argument 'intreval' (CheckpointHook would pass it to "
            'LvsegRunner.save_checkpoint at the first save, which takes no such argument either): did you mean '
            'interval?')


def parsed(options: list[str]) -> dict:
    """``--cfg-options`` ``options`` as the tools parse them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--cfg-options', *options]).cfg_options if options else {}


def assert_valid(config, options: list[str]) -> None:
    """``options`` pass the check on ``config``, and so do the arguments of the config they make."""
    cfg = Config.fromfile(config)
    check_overrides(cfg, parsed(options))
    cfg.merge_from_dict(parsed(options))
    check_arguments(cfg)


def exit_status(main, argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    return exit_.value.code


def error_lines(main, argv: list[str], capsys) -> list[str]:
    """The ``error:`` lines ``main(argv)`` printed on stderr, once it exited with status 2 (a user error)."""
    capsys.readouterr()
    assert exit_status(main, argv) == 2
    return [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')]


@pytest.mark.parametrize('tool, config', [('train', HEADLINE_CONFIG), ('test', HEADLINE_CONFIG),
                                          ('pretrain', PRETRAIN_CONFIG)])
def test_the_help_example_of_each_tool_is_valid_for_its_configs(tool, config, capsys, monkeypatch):
    monkeypatch.setenv('COLUMNS', '1000')  # one line per option: argparse would break '--cfg-options' at its hyphen
    main = getattr(import_tool(tool), f'{tool}_main')
    assert exit_status(main, ['--help']) == 0
    example = re.search(r'e\.g\. --cfg-options (.+?)$', capsys.readouterr().out, re.M).group(1).split()
    assert example and all('=' in option for option in example)
    assert_valid(config, example)


def test_a_misspelt_key_stops_each_tool_before_anything_runs(tmp_path, monkeypatch, capsys):
    """In this process: tools/train.py, tools/test.py and tools/pretrain.py exit with one line and status 2, and
    nothing was written (the work dir is made by the first check that passes)."""
    monkeypatch.setenv('LOCAL_RANK', '0')
    work = ['--work-dir', str(tmp_path / 'work')]
    checkpoint = tmp_path / 'iter_4.pth'
    checkpoint.write_bytes(b'')  # never read: the options are checked first
    assert error_lines(launch.train_main, [str(DEMO_CONFIG), *work, '--cfg-options', 'trian_cfg.max_iters=2'],
                       capsys) == [TRIAN_CFG]
    assert error_lines(launch.test_main, [str(DEMO_CONFIG), str(checkpoint), *work, '--cfg-options',
                                          'model.pretrianed=None'], capsys) == [PRETRIANED]
    assert error_lines(import_tool('pretrain').pretrain_main, [str(PRETRAIN_DEMO_CONFIG), *work, '--cfg-options',
                                                              'train_cfg.max_iters=4'], capsys) == [MAX_ITERS]
    assert not (tmp_path / 'work').exists()


def test_infer_and_get_flops_check_their_options_too(ade_root, tmp_path, monkeypatch, capsys):
    """The other tools that take --cfg-options refuse a misspelt key with the same line, before building a model."""
    checkpoint = tmp_path / 'iter_4.pth'
    checkpoint.write_bytes(b'')  # never read: the options are checked first
    image = str(next((ade_root / 'images/validation').iterdir()))
    for tool, arguments in (('infer', [str(DEMO_CONFIG), str(checkpoint), image, '--out-dir', str(tmp_path / 'out')]),
                            ('analysis/get_flops', [str(DEMO_CONFIG), '--shape', '128'])):
        monkeypatch.setattr('sys.argv', [tool, *arguments, '--cfg-options', 'model.pretrianed=None'])
        capsys.readouterr()
        assert exit_status(lambda argv, tool=tool: import_tool(tool).main(), []) == 2
        assert [line for line in capsys.readouterr().err.splitlines() if line.startswith('error:')] == [PRETRIANED]
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_each_tool_prints_one_error_line_without_a_traceback(ade_root, imagenet_root, tmp_path):
    """The tools as a user runs them, with the options of a real run and one misspelt key: exit status 2, one
    ``error:`` line, no traceback, no iteration (the checkpoint typo used to surface at the first save)."""
    checkpoint = tmp_path / 'iter_4.pth'
    checkpoint.write_bytes(b'')
    runs = {
        INTREVAL: ('train.py', str(DEMO_CONFIG), *demo_overrides(ade_root), 'default_hooks.checkpoint.intreval=2'),
        PRETRIANED: ('test.py', str(DEMO_CONFIG), str(checkpoint), *demo_overrides(ade_root),
                     'model.pretrianed=None'),
        MAX_ITERS: ('pretrain.py', str(PRETRAIN_DEMO_CONFIG), *pretrain_overrides(imagenet_root, epochs=1),
                    'train_cfg.max_iters=4'),
    }
    for line, command in runs.items():
        result = run_tool(*command, '--work-dir', str(tmp_path / command[0]), expect_failure=True)
        output = result.stdout + result.stderr
        assert result.returncode == 2
        assert [text for text in output.splitlines() if text.startswith('error:')] == [line]
        assert 'Traceback' not in output and 'Iter(' not in output and 'Epoch(' not in output
        assert not (tmp_path / command[0]).exists()


def test_the_options_of_the_tests_demo_and_gpu_check_pass(tmp_path):
    """What the end-to-end tests, tools/demo.sh and tools/gpu_check.py pass to the tools is not refused."""
    assert_valid(DEMO_CONFIG, demo_overrides(tmp_path)[1:])
    assert_valid(PRETRAIN_DEMO_CONFIG, pretrain_overrides(tmp_path, epochs=2)[1:])
    for dry_run in (True, False):
        for step in (gpu_check_plan.tool_run('pretrain', gpu_check_plan.PRETRAIN_CONFIG, tmp_path, tmp_path, 6,
                                             dry_run),
                     gpu_check_plan.tool_run('pretrain', gpu_check_plan.PRETRAIN_CONFIG, tmp_path, tmp_path, 6,
                                             dry_run, augment_on='device'),
                     gpu_check_plan.tool_run('train', gpu_check_plan.SEG_CONFIG, tmp_path, tmp_path, 6, dry_run)):
            options = step.command[step.command.index('--cfg-options') + 1:]
            assert_valid(REPO / step.command[2], options)
    runs = demo_sh_runs()
    assert [tool for tool, _, _ in runs] == ['pretrain.py', 'train.py', 'test.py']
    for _, config, options in runs:
        assert_valid(config, options)


def demo_sh_runs() -> list[tuple[str, str, list[str]]]:
    """``(tool, config, --cfg-options)`` of each tool that tools/demo.sh runs, its variables as the script sets
    them (those set from the output of a run as placeholders)."""
    script = (REPO / 'tools/demo.sh').read_text().replace('\\\n', ' ')
    variables = {name or plain: default or value for name, default, plain, value
                 in re.findall(r'^(\w+)=\$\{\w+:-(.*?)\}$|^(\w+)=([^\s$(]+)$', script, re.M)}
    runs = []
    for line in script.splitlines():
        found = re.search(r'tools/(train|test|pretrain)\.py (.*?)(?: 2>&1|$)', line)
        if not found:
            continue
        words = shlex.split(re.sub(r'\$\{?(\w+)\}?', lambda v: variables.get(v.group(1), 'PLACEHOLDER'),
                                   found.group(2)))
        options = words[words.index('--cfg-options') + 1:] if '--cfg-options' in words else []
        runs.append((f'{found.group(1)}.py', str(REPO / words[0]), options))
    return runs


def test_show_dir_draws_every_test_image_unless_the_options_set_an_interval(tmp_path, monkeypatch):
    """The ADE20K configs keep mmseg's SegVisualizationHook at its default, a picture of every 50th batch: with
    --show-dir tools/test.py draws them all, or every N-th with --cfg-options default_hooks.visualization.interval=N.
    A relative --show-dir is taken from the current directory, as every path option (not from the work dir)."""
    monkeypatch.chdir(tmp_path)
    for options, interval in (({}, 1), ({'default_hooks.visualization.interval': 5}, 5)):
        cfg = Config.fromfile(HEADLINE_CONFIG)
        assert 'interval' not in cfg.default_hooks.visualization
        cfg.merge_from_dict(options)
        cfg.work_dir = str(tmp_path / 'work')
        report = launch._show_predictions(cfg, argparse.Namespace(show_dir='pictures', cfg_options=options))
        assert cfg.default_hooks.visualization == dict(type='SegVisualizationHook', draw=True, interval=interval,
                                                       _scope_='mmseg')
        assert cfg.visualizer.save_dir == str(tmp_path / 'pictures')
        assert (report.folder, report.interval) == (str(tmp_path / 'pictures/vis_data/vis_image'), interval)


def documented_commands() -> list[tuple[str, str, list[str]]]:
    """``(where, config, --cfg-options)`` of every command in README.md and docs/*.md that runs train, test or
    pretrain (or their dist_ scripts) with --cfg-options; a ``CONFIG`` placeholder stands for the tool's headline
    config."""
    placeholder = {'train': HEADLINE_CONFIG, 'test': HEADLINE_CONFIG, 'pretrain': PRETRAIN_CONFIG}
    commands = []
    for page in [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]:
        text = page.read_text().replace('\\\n', ' ')
        spans = re.findall(r'```[a-z]*\n(.*?)```', text, re.S) + [  # inline code may wrap: one line
            span.replace('\n', ' ') for span in re.findall(r'(?<!`)`([^`]+)`(?!`)', text)]
        for span in spans:
            for found in re.finditer(r'tools/(?:dist_)?(train|test|pretrain)\.(?:py|sh) (\S+\.py|CONFIG)([^\n]*)',
                                     span):
                words = found.group(3).split('#')[0].split()
                if '--cfg-options' not in words:
                    continue
                options = []
                for word in words[words.index('--cfg-options') + 1:]:
                    if '=' not in word:
                        break
                    options.append(word)
                config = placeholder[found.group(1)] if found.group(2) == 'CONFIG' else REPO / found.group(2)
                commands.append((f'{page.name}: {found.group(0)[:60]}', config, options))
    return commands


def test_every_documented_command_s_options_pass_on_its_config():
    """The --cfg-options of the README's and the docs' commands (the label-store switch among them) are valid."""
    commands = documented_commands()
    assert any({'train_dataloader.dataset.label_store=label_store/train',
                'train_dataloader.dataset.label_map_root=None'} <= set(options) for _, _, options in commands)
    for where, config, options in commands:
        assert options, where
        try:
            assert_valid(config, options)
        except SystemExit as error:
            pytest.fail(f'{where}: {error}')
