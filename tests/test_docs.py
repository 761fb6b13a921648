"""The method notes: every ``docs/method.md#<anchor>`` cited in the repository exists, and nothing cites the
method notes that lived outside the repository before docs/method.md."""
import re
import unicodedata
from pathlib import Path

import pytest


def _repo_root() -> Path:
    """The folder holding setup.py above this file (tests may live in sub-folders)."""
    return next(parent for parent in Path(__file__).resolve().parents if (parent / 'setup.py').is_file())


ROOT = _repo_root()
METHOD_NOTES = ROOT / 'docs' / 'method.md'
CITING = [ROOT / name for name in ('lvseg', 'configs', 'tools', 'bench', 'tests', 'README.md')]
TEXT_SUFFIXES = {'.py', '.sh', '.md', '.yml', '.yaml', '.txt', '.toml', '.cfg', '.json'}
CITATION = re.compile(r'docs/method\.md#([A-Za-z0-9_-]+)')
# Citations of the notes kept outside the repository before docs/method.md (name built here, so that a grep
# for it finds no file of the repository).
OUTSIDE_NOTES = re.compile('spec'.upper() + r'\s*(?:section|§)')
# The sections the code and configs are meant to cite (the house brief's list).
REQUIRED_ANCHORS = ('lv-vit-backbone', 'token-labeling', 'label-map-geometry', 'mixtoken', 'loss',
                    'pretraining-recipe', 'segmentation-recipe', 'released-files', 't2t-vit',
                    'official-code-defects', 'published-numbers')


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a markdown heading: link targets and code marks dropped, lower case, punctuation
    removed (letters, digits, '-', '_' and spaces kept), spaces turned into '-'."""
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading).replace('`', '').strip().lower()
    kept = ''.join(c for c in text if c in ' -_' or unicodedata.category(c)[0] in 'LN')
    return kept.replace(' ', '-')


def anchors_of(markdown: str) -> set[str]:
    """Anchors of a markdown text: its headings' slugs (a repeated slug gets '-1', '-2', ... as on GitHub) and
    explicit ``<a id="...">`` / ``<a name="...">``; headings inside code fences do not count."""
    anchors, seen, in_fence = set(), {}, False
    for line in markdown.splitlines():
        if line.lstrip().startswith('```'):
            in_fence = not in_fence
            continue
        heading = re.match(r'#{1,6}\s+(.*?)\s*#*\s*$', line)
        if heading and not in_fence:
            slug = github_slug(heading.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f'{slug}-{count}')
    anchors.update(re.findall(r'<a\s+(?:id|name)="([^"]+)"', markdown))
    return anchors


def text_files(paths: list[Path]) -> list[Path]:
    """The text files among ``paths`` and under the folders among them."""
    files = []
    for path in paths:
        candidates = [path] if path.is_file() else sorted(path.rglob('*'))
        files += [f for f in candidates if f.is_file() and f.suffix in TEXT_SUFFIXES and '__pycache__' not in f.parts]
    return files


def place(path: Path, number: int) -> str:
    """``file:line``, the file relative to the repository when it lies inside."""
    return f'{path.relative_to(ROOT) if ROOT in path.parents else path}:{number}'


def citations_in(files: list[Path]) -> dict[str, list[str]]:
    """``{anchor: ['file:line', ...]}`` for every ``docs/method.md#<anchor>`` in ``files``."""
    cited: dict[str, list[str]] = {}
    for path in files:
        for number, line in enumerate(path.read_text(encoding='utf-8', errors='replace').splitlines(), 1):
            for anchor in CITATION.findall(line):
                cited.setdefault(anchor, []).append(place(path, number))
    return cited


@pytest.mark.parametrize('heading, slug', [
    ('LV-ViT backbone', 'lv-vit-backbone'),
    ('T2T-ViT', 't2t-vit'),
    ('The plain ViT and DeiT', 'the-plain-vit-and-deit'),
    ('`MixToken`, and [a link](https://example.org)!', 'mixtoken-and-a-link'),
])
def test_github_slug_of_a_heading(heading, slug):
    assert github_slug(heading) == slug


def test_anchors_count_repeated_headings_and_explicit_ids_but_not_code():
    markdown = '# Loss\n## Loss\n<a id="custom-place"></a>\n```\n# not a heading\n```\n'
    assert anchors_of(markdown) == {'loss', 'loss-1', 'custom-place'}


def test_citations_are_found_with_their_file_and_line(tmp_path):
    source = tmp_path / 'module.py'
    first, second, binary = 'loss', 'mixtoken', 'not-text'  # not spelled out: this file is scanned too
    source.write_text(f'"""Docs."""\nX = 1  # (docs/method.md#{first}), see also docs/method.md#{second}.\n')
    (tmp_path / 'picture.png').write_bytes(f'docs/method.md#{binary}'.encode())
    assert citations_in(text_files([tmp_path])) == {'loss': [f'{source}:2'], 'mixtoken': [f'{source}:2']}


def test_method_notes_have_the_required_sections():
    missing = set(REQUIRED_ANCHORS) - anchors_of(METHOD_NOTES.read_text(encoding='utf-8'))
    assert not missing, f'{METHOD_NOTES}: no heading or <a id> gives the anchors {sorted(missing)}'


def test_every_cited_anchor_exists_in_the_method_notes():
    cited = citations_in(text_files(CITING))
    assert cited, 'no docs/method.md#<anchor> citation found: has the citation form changed?'
    existing = anchors_of(METHOD_NOTES.read_text(encoding='utf-8'))
    dangling = {anchor: places for anchor, places in cited.items() if anchor not in existing}
    assert not dangling, f'citations of anchors that {METHOD_NOTES.relative_to(ROOT)} does not have: {dangling}'


def test_nothing_cites_notes_outside_the_repository():
    places = [place(path, number) for path in text_files(CITING)
              for number, line in enumerate(path.read_text(encoding='utf-8', errors='replace').splitlines(), 1)
              if OUTSIDE_NOTES.search(line)]
    assert not places, f'cite docs/method.md#<anchor> instead of the notes outside the repository at {places}'
