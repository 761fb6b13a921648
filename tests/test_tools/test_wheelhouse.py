"""The wheelhouse (tools/wheelhouse.py, lvseg/infra/wheelhouse/): what it fetches for another Python, what an offline
install takes from it, the one line that names what it lacks, and (slow) a whole offline set-up onto an existing
torch."""
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import torch
from lvseg_testing.tool_runner import REPO
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from lvseg.infra.wheelhouse.build import platform_tags
from lvseg.infra.wheelhouse.contents import collect, comes_with_torch, read_have, target_environment
from lvseg.infra.wheelhouse.install import plan
from lvseg.infra.wheelhouse.wheels import MANIFEST, Wheel, WheelhouseError

PURE = 'py3-none-any'


def make_wheel(folder: Path, name: str, version: str, requires: tuple[str, ...] = (), tag: str = PURE) -> Path:
    """A minimal wheel: its METADATA (name, version, Requires-Dist) is all the wheelhouse reads."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f'{name.replace("-", "_")}-{version}'
    path = folder / f'{stem}-{tag}.whl'
    lines = ['Metadata-Version: 2.1', f'Name: {name}', f'Version: {version}']
    lines += [f'Requires-Dist: {r}' for r in requires]
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr(f'{stem}.dist-info/METADATA', '\n'.join(lines) + '\n')
    return path


def versions(**installed: str) -> dict:
    return {canonicalize_name(name): Version(v) for name, v in installed.items()}


def test_plan_takes_from_the_folder_only_what_the_environment_lacks(tmp_path):
    a = make_wheel(tmp_path, 'a', '1.0', ('b>=2', 'c', 'numpy>=1.20', 'd; python_version < "3.0"'))
    b = make_wheel(tmp_path, 'b', '2.1', ('e[fast]', 'f; extra == "docs"'))
    make_wheel(tmp_path, 'b', '1.0')
    make_wheel(tmp_path, 'c', '3.0')
    e = make_wheel(tmp_path, 'e', '0.5')
    planned = plan(tmp_path, ['a'], [], installed=versions(c='1.5', numpy='2.0', b='1.9'))
    assert sorted(planned) == sorted([a, b, e])  # c and numpy kept; b 1.9 too old: the folder's newest b


def test_any_opencv_build_meets_a_requirement_on_another(tmp_path):
    mm = make_wheel(tmp_path, 'mm', '1.0', ('opencv-python>=3',))
    assert plan(tmp_path, ['mm'], [], installed=versions(**{'opencv-python-headless': '4.10.0'})) == [mm]
    with pytest.raises(WheelhouseError, match=r'opencv-python>=3 \(needed by mm 1.0; found none; the '
                                              r'node must bring one OpenCV build'):
        plan(tmp_path, ['mm'], [], installed={})


def test_what_the_folder_lacks_is_named_in_one_line_with_who_needs_it(tmp_path):
    make_wheel(tmp_path, 'top', '1.0', ('x', 'y>=2'))
    make_wheel(tmp_path, 'y', '1.0')
    with pytest.raises(WheelhouseError) as error:
        plan(tmp_path, ['top'], [], installed=versions(y='1.5'))
    message = str(error.value)
    assert '\n' not in message
    assert message == (f'the wheelhouse {tmp_path} lacks: x (needed by top 1.0); '
                       'y>=2 (needed by top 1.0; the environment has 1.5)')


def test_torch_is_never_installed_even_when_the_folder_holds_one(tmp_path):
    make_wheel(tmp_path, 'torch', '9.0')
    make_wheel(tmp_path, 'needs-new-torch', '1.0', ('torch>=3',))
    assert plan(tmp_path, ['torch>=2'], [], installed=versions(torch='2.11.0+cu130')) == []
    with pytest.raises(WheelhouseError, match=r'torch>=3 \(needed by needs-new-torch 1.0; found torch '
                                              r'2.11.0\+cu130; lvseg never installs what comes with torch'):
        plan(tmp_path, ['needs-new-torch'], [], installed=versions(torch='2.11.0+cu130'))


def test_a_wheelhouse_for_another_python_is_refused_and_its_binary_wheels_never_taken(tmp_path):
    other = '3.99' if sys.version_info[:2] != (3, 99) else '3.98'
    abi = 'cp' + other.replace('.', '')
    make_wheel(tmp_path, 'fast', '1.0', tag=f'{abi}-{abi}-manylinux_2_17_x86_64')
    with pytest.raises(WheelhouseError, match=r'^the wheelhouse .* lacks: fast \(needed by the set-up\)$'):
        plan(tmp_path, ['fast'], [], installed={})
    (tmp_path / MANIFEST).write_text(json.dumps({'python_version': other}))
    with pytest.raises(WheelhouseError, match=rf'made for Python {other}, this is Python 3\.\d+: make one '
                                              rf'with "make wheelhouse PYTHON_VERSION=3\.\d+"'):
        plan(tmp_path, ['fast'], [], installed={})
    with pytest.raises(WheelhouseError, match='no wheelhouse folder'):
        plan(tmp_path / 'missing', ['fast'], [], installed={})


def fake_index(folder: Path, releases: dict[str, dict[str, tuple[str, ...]]]):
    """A ``fetch`` for :func:`collect` over ``releases`` ({name: {version: requirements}}): the newest
    release that fits each requirement, written as a wheel into ``folder``; records every call."""
    calls = []

    def fetch(requirements):
        calls.append(sorted(str(r) for r in requirements))
        wheels = []
        for requirement in requirements:
            fits = [v for v in releases[requirement.name] if requirement.specifier.contains(v)]
            version = max(fits, key=Version)
            wheels.append(Wheel.read(make_wheel(folder, requirement.name, version,
                                                releases[requirement.name][version])))
        return wheels
    return fetch, calls


def test_collect_walks_the_requirements_for_the_target_python_and_narrows_by_refetching(tmp_path):
    releases = {'a': {'1.0': ('b', 'c>=1', 'torch', 'old; python_version < "3.12"')},
                'b': {'1.0': ('c<2',)}, 'c': {'1.5': (), '3.0': ()}, 'old': {'1.0': ()}}
    fetch, calls = fake_index(tmp_path / 'wh312', releases)
    wheels, needed_by = collect([(Requirement('a'), 'lvseg')], target_environment('3.12'),
                                fetch, lambda name, spec: comes_with_torch(name))
    assert {name: str(w.version) for name, w in wheels.items()} == {'a': '1.0', 'b': '1.0', 'c': '1.5'}
    assert calls == [['a'], ['b', 'c>=1'], ['c<2,>=1']]  # c 3.0 first, then again within b's limit
    assert sorted(p.name for p in (tmp_path / 'wh312').iterdir()) == ['a-1.0-py3-none-any.whl',
                                                                     'b-1.0-py3-none-any.whl', 'c-1.5-py3-none-any.whl']
    assert needed_by['c'] == {'a', 'b'} and needed_by['torch'] == {'a'}
    fetch, _ = fake_index(tmp_path / 'wh311', releases)
    wheels, _ = collect([(Requirement('a'), 'lvseg')], target_environment('3.11'), fetch,
                        lambda name, spec: comes_with_torch(name))
    assert 'old' in wheels


def test_have_file_takes_pip_freeze_lines_and_names_a_bad_one(tmp_path):
    have = tmp_path / 'node.txt'
    have.write_text('# pip list --format=freeze\nscipy==1.16.2\nTimm\nopencv_python_headless==4.12.0.88\n'
                    'mylib @ file:///src/mylib\n-e git+https://example.org/x.git#egg=x\n')
    assert read_have(have) == {'scipy': Version('1.16.2'), 'timm': None,
                               'opencv-python-headless': Version('4.12.0.88'), 'mylib': None}
    for bad in ('scipy>=1', 'scipy==not.a.version'):
        have.write_text(f'scipy==1.16\n{bad}\n')
        with pytest.raises(WheelhouseError, match=r'node.txt:2: expected "name", "name==version" or'):
            read_have(have)


def test_platform_tags_reach_the_given_glibc_and_no_further():
    tags = platform_tags('2.28')
    assert {'manylinux_2_28_x86_64', 'manylinux_2_17_x86_64', 'manylinux2014_x86_64', 'manylinux1_x86_64'} <= set(tags)
    assert 'manylinux_2_31_x86_64' not in tags


# tools/wheelhouse.py plan, run as tools/setup_env.sh runs it: before lvseg and its requirements are installed
# (importing any of them fails here).
WITHOUT_LVSEG = """import runpy, sys
sys.modules.update(dict.fromkeys(['lvseg', 'torch', 'mmengine', 'mmseg', 'mmcv']))
sys.argv = ['tools/wheelhouse.py', *sys.argv[1:]]
runpy.run_path('tools/wheelhouse.py', run_name='__main__')
"""


def test_the_tool_plans_an_install_where_lvseg_and_its_requirements_are_not_importable(tmp_path):
    probe = make_wheel(tmp_path, 'lvseg-probe-dist', '1.0', ('lvseg-probe-dep>=2',))
    dep = make_wheel(tmp_path, 'lvseg-probe-dep', '2.0')

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, '-c', WITHOUT_LVSEG, 'plan', str(tmp_path), *args], cwd=REPO,
                              capture_output=True, text=True, timeout=300)

    planned = run('lvseg-probe-dist')
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert sorted(planned.stdout.splitlines()) == sorted([str(probe), str(dep)])
    dep.unlink()
    lacking = run('lvseg-probe-dist')
    assert (lacking.returncode, lacking.stdout) == (1, '')
    assert lacking.stderr == (f'error: the wheelhouse {tmp_path} lacks: lvseg-probe-dep>=2 (needed by '
                              'lvseg-probe-dist 1.0)\n')

# ---- slow: the whole offline set-up, as on a GPU node without network ----
NOT_ON_THE_NODE = {'mmcv', 'mmengine', 'mmsegmentation', 'ftfy', 'regex', 'lvseg'}  # the target node
FREEZE = ("from importlib import metadata\n"
          "for d in metadata.distributions(): print(d.metadata['Name'] + '==' + d.version)")


def node_like_python(tmp_path: Path) -> Path:
    """A Python like a GPU node's: a venv (as the node's /opt/torch/.venv) that sees this environment's packages,
    torch among them, except mmcv, mmengine, mmsegmentation, ftfy, regex and lvseg (symlinks in a folder that a
    .pth file puts on its path)."""
    site = Path(sysconfig.get_paths()['purelib'])
    hidden = set()
    for dist in metadata.distributions(path=[str(site)]):
        if canonicalize_name(dist.metadata['Name'] or '') in NOT_ON_THE_NODE:
            hidden |= {Path(str(f)).parts[0] for f in dist.files or [] if not str(f).startswith('..')}
    farm = tmp_path / 'node_site'
    farm.mkdir()
    for entry in site.iterdir():
        if entry.name not in hidden and entry.suffix != '.pth' and entry.name != '__pycache__':
            (farm / entry.name).symlink_to(entry)
    base = Path(sys.base_prefix) / 'bin' / f'python{sys.version_info[0]}.{sys.version_info[1]}'
    subprocess.run([str(base), '-m', 'venv', '--without-pip', str(tmp_path / 'node')], check=True)
    node_python = tmp_path / 'node/bin/python'
    node_site = subprocess.run([str(node_python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                               capture_output=True, text=True, check=True).stdout.strip()
    Path(node_site, 'node_packages.pth').write_text(f'{farm}\n')
    return node_python


def cached_mmcv_wheel() -> Path | None:
    """The mmcv wheel that ``make setup`` cached for this torch (CPU ops), if any."""
    cache = Path(os.environ.get('LVSEG_CACHE', Path.home() / '.cache/lvseg'))
    folder = cache / f'wheels/mmcv-2.1.0/torch-{torch.__version__}-cpu-cp{sys.version_info[0]}{sys.version_info[1]}'
    return next(folder.glob('mmcv-*.whl'), None)


def offline_env(tmp_path: Path, venv: str, python: Path, wheels: Path) -> dict:
    """The environment of an offline set-up of ``tmp_path/venv`` from ``wheels`` onto ``python``'s torch."""
    env = dict(os.environ, VENV=str(tmp_path / venv), PYTHON=str(python), WHEELHOUSE=str(wheels),
               TORCH_PACKAGES='system', PIP_NO_COMPILE='1')
    env.pop('PYTHONPATH', None)
    return env


@pytest.mark.slow
@pytest.mark.skipif(cached_mmcv_wheel() is None, reason='no mmcv wheel cached for this torch: run make setup first')
def test_offline_install_from_a_wheelhouse_onto_an_existing_torch(tmp_path):
    """make wheelhouse for this Python with what the node has left out (pip fetches the rest from the index),
    then make gpu-check's offline set-up (tools/setup_env.sh, pip --no-index) into a fresh venv over a node-like
    Python: torch is the node's, mmcv is the cached wheel for that torch, the rest comes from the wheelhouse."""
    node_python = node_like_python(tmp_path)
    have = tmp_path / 'node.txt'  # what the node has, as "pip list --format=freeze" would print it
    freeze = subprocess.run([str(node_python), '-c', FREEZE], capture_output=True, text=True, check=True)
    have.write_text(freeze.stdout)
    wheels = tmp_path / 'wheelhouse'
    python = '{}.{}'.format(*sys.version_info[:2])
    build = subprocess.run([sys.executable, 'tools/wheelhouse.py', 'build', str(wheels), '--python-version', python,
                            '--have', str(have)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    manifest = json.loads((wheels / 'wheelhouse.json').read_text())
    carried = {f['name'] for f in manifest['files']}
    assert {'lvseg', 'mmcv', 'mmengine', 'mmsegmentation', 'ftfy', 'regex', 'setuptools'} <= carried
    assert not carried & {'torch', 'torchvision', 'numpy', 'timm', 'opencv-python'}

    # As make gpu-check does it (DRY_RUN=1: no GPU here; LIMIT_S=1: the set-up takes longer, so no step starts).
    report = tmp_path / 'report'
    result = subprocess.run(['bash', 'tools/gpu_check.sh'], cwd=REPO, capture_output=True, text=True, timeout=900,
                            env=offline_env(tmp_path, 'env', node_python, wheels) | dict(
                                DRY_RUN='1', LIMIT_S='1', REPORT_DIR=str(report)))
    setup_log = (report / 'setup.log').read_text()
    assert 'setup done' in setup_log and 'building mmcv' not in setup_log, result.stderr[-3000:] + setup_log[-3000:]
    installed = [line for line in setup_log.splitlines() if line.startswith('installing from the wheelhouse')]
    assert all(name in installed[-1] for name in ('mmengine', 'mmsegmentation', 'ftfy'))
    assert f'gpu-check: setting up {tmp_path / "env"} offline from {wheels}' in result.stdout
    steps = json.loads((report / 'report.json').read_text())['steps']
    assert {step['status'] for step in steps} == {'not started: the time limit was reached'}
    assert result.returncode == 1  # nothing was checked
    probe = ('import json, mmengine, torch, lvseg; print(json.dumps({"torch": torch.__file__, '
             '"mmengine": mmengine.__file__, "lvseg": lvseg.__file__}))')
    where = json.loads(subprocess.run([str(tmp_path / 'env/bin/python'), '-c', probe], capture_output=True, text=True,
                                      check=True, cwd=tmp_path).stdout)
    assert Path(where['torch']).resolve() == Path(torch.__file__).resolve()  # the node's torch, untouched
    assert Path(where['mmengine']).is_relative_to(tmp_path / 'env')
    assert Path(where['lvseg']).is_relative_to(REPO)  # editable: the checkout's code

    # The same set-up again, ftfy gone from the environment and from the wheelhouse: one line names it.
    subprocess.run([str(tmp_path / 'env/bin/python'), '-m', 'pip', 'uninstall', '-q', '-y', 'ftfy'], check=True)
    lacking = tmp_path / 'lacking'
    lacking.mkdir()
    for path in wheels.iterdir():
        if not path.name.startswith('ftfy-'):
            (lacking / path.name).symlink_to(path)
    result = subprocess.run(['bash', 'tools/setup_env.sh'], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env=offline_env(tmp_path, 'env', node_python, lacking))
    assert result.returncode != 0
    named = [line for line in result.stderr.splitlines() if line.startswith('error:')]
    assert named == [f'error: the wheelhouse {lacking} lacks: ftfy (needed by lvseg)']
