"""Which checkpoint --resume takes: the work dir's own, also after the work dir was moved or copied."""
import pytest

from lvseg.engine.config_checks import ConfigError
from lvseg.engine.resume_source import latest_checkpoint


def work_dir(folder, recorded: str, files=('iter_4.pth',)):
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_bytes(b'weights')
    (folder / 'last_checkpoint').write_text(recorded)
    return folder


def test_the_recorded_file_in_its_own_work_dir_is_taken_without_a_note(tmp_path):
    work = work_dir(tmp_path / 'run', str(tmp_path / 'run/iter_4.pth'))
    assert latest_checkpoint(str(work)) == (str(work / 'iter_4.pth'), None)


def test_a_copied_work_dir_resumes_from_its_own_file_and_says_which(tmp_path):
    original = work_dir(tmp_path / 'run', str(tmp_path / 'run/iter_4.pth'))
    copy = work_dir(tmp_path / 'copy', str(original / 'iter_4.pth'))
    source, note = latest_checkpoint(str(copy))
    assert source == str(copy / 'iter_4.pth')
    assert str(original / 'iter_4.pth') in note and f'resuming from {copy / "iter_4.pth"}' in note


def test_a_record_outside_that_only_exists_there_is_taken_and_said(tmp_path):
    elsewhere = work_dir(tmp_path / 'run', str(tmp_path / 'run/iter_4.pth'))
    copy = work_dir(tmp_path / 'copy', str(elsewhere / 'iter_4.pth'), files=())
    source, note = latest_checkpoint(str(copy))
    assert source == str(elsewhere / 'iter_4.pth') and 'outside this work dir' in note


def test_a_record_of_a_file_that_is_nowhere_is_one_error_naming_both(tmp_path):
    copy = work_dir(tmp_path / 'copy', str(tmp_path / 'gone/iter_4.pth'), files=())
    with pytest.raises(ConfigError, match=r'last_checkpoint: names .*gone/iter_4.pth, which does not exist.*load_from'):
        latest_checkpoint(str(copy))


def test_no_record_means_no_checkpoint_and_a_note(tmp_path):
    source, note = latest_checkpoint(str(tmp_path))
    assert source is None and 'training from the start' in note
