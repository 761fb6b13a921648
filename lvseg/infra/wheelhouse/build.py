"""Building a wheelhouse where the package index is reachable (``make wheelhouse``): pip downloads the wheels of
every distribution :mod:`.contents` carries, for another CPython than this one, into a folder written aside and
renamed when complete, with its ``wheelhouse.json``."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from .contents import EXTRA_ROOTS, MMCV_VERSION, collect, left_out_reason, read_have, target_environment
from .wheels import MANIFEST, Wheel, WheelhouseError


def run_pip(args: list[str], python: str = sys.executable) -> None:
    """Run pip; on failure raise its one telling line (the missing distribution, or pip's last error)."""
    result = subprocess.run([python, '-m', 'pip', '--disable-pip-version-check', *args], capture_output=True,
                            text=True)
    if result.returncode:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        telling = [line for line in lines if 'No matching distribution found for' in line]
        raise WheelhouseError(f'pip {args[0]} failed: ' + (telling or lines or ['(no output)'])[-1])


def platform_tags(glibc: str) -> list[str]:
    """pip's ``--platform`` values for x86-64 wheels that run on glibc ``glibc`` (``'2.28'``) or newer."""
    major, minor = (int(part) for part in glibc.split('.'))
    tags = [f'manylinux_{major}_{m}_x86_64' for m in range(5, minor + 1)]
    legacy = {'manylinux1_x86_64': 5, 'manylinux2010_x86_64': 12, 'manylinux2014_x86_64': 17}
    return tags + [tag for tag, needs in legacy.items() if needs <= minor]


def wheel_fetcher(dest: Path, python_version: str, glibc: str) -> Callable[[list[Requirement]], list[Wheel]]:
    """``pip download --no-deps --only-binary=:all:`` of requirements for the target into ``dest``; returns, for
    each requirement, the newest wheel in ``dest`` that meets it."""
    platforms = [arg for tag in platform_tags(glibc) for arg in ('--platform', tag)]

    def fetch(requirements: list[Requirement]) -> list[Wheel]:
        run_pip(['download', '--quiet', '--no-deps', '--only-binary=:all:', '--implementation', 'cp',
                 '--python-version', python_version, *platforms, '--dest', str(dest),
                 *(str(r) for r in requirements)])
        here = [Wheel.read(path) for path in dest.glob('*.whl')]
        fetched = []
        for requirement in requirements:
            fits = [w for w in here if w.name == canonicalize_name(requirement.name)
                    and requirement.specifier.contains(w.version, prereleases=True)]
            fetched += [max(fits, key=lambda w: w.version)] if fits else []
        return fetched
    return fetch


def mmcv_sdist(dest: Path, cache: Path) -> Path:
    """The mmcv sdist in ``dest``: copied from ``cache`` (``$LVSEG_CACHE/sdist``), else downloaded there.

    pip prepares an sdist's metadata when downloading it, and mmcv's setup.py imports torch: the download needs
    this interpreter to have torch (run ``make setup`` first)."""
    name = f'mmcv-{MMCV_VERSION}.tar.gz'
    if not (cache / name).is_file():
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            run_pip(['download', '--quiet', '--no-deps', '--no-binary', ':all:', '--no-build-isolation',
                     f'mmcv=={MMCV_VERSION}', '--dest', tmp])
            os.replace(Path(tmp) / name, cache / name)
    shutil.copy2(cache / name, dest / name)
    return dest / name


def sdist_requirements(sdist: Path) -> list[Requirement]:
    """The runtime requirements of an OpenMMLab sdist (``requirements/runtime.txt``)."""
    with tarfile.open(sdist) as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith('/requirements/runtime.txt'))
        text = archive.extractfile(member).read().decode()
    return [Requirement(line) for line in (raw.strip() for raw in text.splitlines()) if line and line[0] != '#']


def build_lvseg_wheel(source: Path, dest: Path) -> Wheel:
    """lvseg's own wheel, built from the checkout ``source`` with the build tools of this interpreter."""
    with tempfile.TemporaryDirectory() as tmp:
        run_pip(['wheel', '--quiet', '--no-deps', '--no-build-isolation', '--wheel-dir', tmp, str(source)])
        built = next(Path(tmp).glob('lvseg-*.whl'))
        shutil.move(built, dest / built.name)
    return Wheel.read(dest / built.name)


def build(out: Path, python_version: str, glibc: str, have_file: Path | None, cache: Path, source: Path) -> dict:
    """Write the wheelhouse ``out`` for CPython ``python_version`` from the lvseg checkout ``source`` (see
    ``tools/wheelhouse.py``); return its manifest."""
    have = read_have(have_file)
    partial = out.with_name(f'.{out.name}.partial-{os.getpid()}')
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        lvseg = build_lvseg_wheel(source, partial)
        sdist = mmcv_sdist(partial, cache)
        roots = ([(r, 'lvseg') for r in lvseg.requires] + [(r, 'mmcv') for r in sdist_requirements(sdist)]
                 + [(Requirement(r), 'offline set-up') for r in EXTRA_ROOTS])
        left: dict[str, str] = {}

        def left_out(name: str, spec: SpecifierSet) -> bool:
            reason = left_out_reason(name, spec, have)
            if reason:
                left[name] = reason
            else:
                left.pop(name, None)
            return reason is not None

        wheels, needed_by = collect(roots, target_environment(python_version),
                                    wheel_fetcher(partial, python_version, glibc), left_out)
        files = [(lvseg.path, 'lvseg', ['its own wheel']), (sdist, 'mmcv', ['built on the node by setup_env.sh'])]
        files += [(w.path, w.name, sorted(needed_by[w.name])) for w in sorted(wheels.values(), key=lambda w: w.name)]
        manifest = {
            'python_version': python_version, 'platform': f'manylinux, glibc >= {glibc}, x86_64',
            'lvseg_version': str(lvseg.version), 'mmcv_version': MMCV_VERSION,
            'made': time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
            'files': [{'file': path.name, 'name': name, 'bytes': path.stat().st_size, 'needed_by': by}
                      for path, name, by in files],
            'left_out': {name: left[name] for name in sorted(left)},
        }
        manifest['bytes'] = sum(f['bytes'] for f in manifest['files'])
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + '\n')
        stale = out.with_name(f'.{out.name}.old-{os.getpid()}')
        if out.exists():
            os.replace(out, stale)
        os.replace(partial, out)
        shutil.rmtree(stale, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return manifest


def summary(out: Path, python_version: str, manifest: dict) -> str:
    """The line ``make wheelhouse`` ends with: files, size, target, and what was left out."""
    left = ', '.join(manifest['left_out']) or 'nothing'
    return (f'wheelhouse {out}: {len(manifest["files"])} files, {manifest["bytes"] / 2**20:.1f} MiB, for CPython '
            f'{python_version} on {manifest["platform"]}; left out (the node brings them): {left}')
