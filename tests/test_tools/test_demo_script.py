"""tools/demo.sh (make demo) writes only where it says: its tools' outputs under its work and data folders, and the
prediction pictures where its last line points (with --show-dir relative to the current folder, a bare
``--show-dir pictures`` once drew them into the repository's root while the demo pointed at stale ones). The tools
are stood in for by a recorder of their arguments: what the tools do with them is tested in their own files."""
import os
import shlex
import subprocess

from lvseg_testing.tool_runner import REPO

RECORDER = '''#!/usr/bin/env bash
# stands in for the Python of tools/demo.sh: records each call, writes the checkpoint record that the next step
# reads, and prints the figures that the demo's summary greps for
echo "$*" >> "$CALLS"
echo "accuracy/top1: 70.0 mIoU: 95.42"
work=""; prev=""
for a in "$@"; do [ "$prev" = "--work-dir" ] && work="$a"; prev="$a"; done
if [ -n "$work" ]; then mkdir -p "$work"; echo "$work/last.pth" > "$work/last_checkpoint"; fi
'''


def test_the_demo_draws_its_pictures_where_it_says_and_writes_under_its_folders(tmp_path):
    recorder = tmp_path / 'python'
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    work, data_in, data = tmp_path / 'work', tmp_path / 'in', tmp_path / 'ade'
    env = dict(os.environ, PY=str(recorder), CALLS=str(tmp_path / 'calls'), WORK=str(work), DATA_IN=str(data_in),
               DATA=str(data))
    result = subprocess.run(['bash', 'tools/demo.sh'], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = [shlex.split(line) for line in (tmp_path / 'calls').read_text().splitlines()]
    test_call = next(call for call in calls if call[0] == 'tools/test.py')
    show_dir = test_call[test_call.index('--show-dir') + 1]
    assert f'demo: prediction pictures under {show_dir}/vis_data/vis_image' in result.stdout.splitlines()
    outputs = [call[call.index(option) + 1] for call in calls for option in ('--work-dir', '--show-dir')
               if option in call]
    assert len(outputs) == 4  # pretrain, train, test and its pictures
    assert all(path.startswith(str(work) + '/') for path in outputs), outputs
