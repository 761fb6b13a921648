"""Building a wheelhouse (lvseg/infra/wheelhouse/build.py), the parts that need no package index: mmcv's runtime
requirements read from its sdist, and the line ``make wheelhouse`` ends with. pip's part: the slow test in
tests/test_tools/test_wheelhouse.py."""
import io
import tarfile
from pathlib import Path

from packaging.requirements import Requirement

from lvseg.infra.wheelhouse.build import sdist_requirements, summary


def test_the_runtime_requirements_come_from_the_sdists_requirements_file(tmp_path):
    sdist = tmp_path / 'mmcv-2.1.0.tar.gz'
    with tarfile.open(sdist, 'w:gz') as archive:
        for name, text in (('mmcv-2.1.0/requirements/runtime.txt', '# runtime\naddict\nmmengine>=0.3.0\n\n'
                                                                    'opencv-python>=3\n'),
                           ('mmcv-2.1.0/requirements/tests.txt', 'pytest\n')):
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    assert [str(r) for r in sdist_requirements(sdist)] == [str(Requirement(r)) for r in
                                                          ('addict', 'mmengine>=0.3.0', 'opencv-python>=3')]


def test_the_summary_names_files_size_target_and_what_was_left_out():
    manifest = {'files': [{}, {}, {}], 'bytes': 3 * 2**20 + 2**19, 'platform': 'manylinux, glibc >= 2.28, x86_64',
                'left_out': {'numpy': 'comes with torch', 'scipy': 'the node has scipy 1.16.2'}}
    assert summary(Path('wheelhouse/cp312'), '3.12', manifest) == (
        'wheelhouse wheelhouse/cp312: 3 files, 3.5 MiB, for CPython 3.12 on manylinux, glibc >= 2.28, x86_64; left '
        'out (the node brings them): numpy, scipy')
    assert summary(Path('w'), '3.11', {**manifest, 'left_out': {}}).endswith('left out (the node brings them): '
                                                                             'nothing')
