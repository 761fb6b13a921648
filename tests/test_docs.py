"""The documentation holds together: every ``docs/method.md#<anchor>`` cited in the repository exists, and nothing
cites the method notes that lived outside the repository before docs/method.md; every relative link and anchor of
README.md and docs/*.md resolves, as does every ``README.md#<anchor>`` or ``docs/<page>.md#<anchor>`` that a file of
the repository cites; every repository path that their commands and inline code name exists; the README stays
short."""
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
PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]
# Where a citation of a page's section may sit: the code, the configs, the tools, the tests, the pages themselves.
CITING_PAGES = [*CITING, ROOT / 'docs', ROOT / 'setup.py', ROOT / 'Makefile']
README_MAX_LINES = 200
TEXT_SUFFIXES = {'.py', '.sh', '.md', '.yml', '.yaml', '.txt', '.toml', '.cfg', '.json'}
CITATION = re.compile(r'docs/method\.md#([A-Za-z0-9_-]+)')
# Citations of the notes kept outside the repository before docs/method.md (name built here, so that a grep
# for it finds no file of the repository).
OUTSIDE_NOTES = re.compile('spec'.upper() + r'\s*(?:section|§)')
# ``README.md#<anchor>`` or ``docs/<page>.md#<anchor>``, written from the repository root (not preceded by a path).
PAGE_CITATION = re.compile(r'(?<![\w./-])((?:docs/[\w-]+|README)\.md)#([A-Za-z0-9_-]+)')
MARKDOWN_LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
INLINE_CODE = re.compile(r'(?<!`)`([^`]+)`(?!`)')
# A path below one of the repository's top-level folders, as commands and inline code name them.
REPO_PATH = re.compile(r'(?<![\w./:-])((?:configs|tools|lvseg|bench|tests|docs)/[\w./*{},-]*)')
# Paths of other projects that the pages cite as sources (mmseg's files: docs/method.md, the backbones' table of
# docs/pretraining.md), not lvseg's.
FOREIGN_PATHS = {'configs/_base_/datasets/ade20k.py', 'configs/vit/README.md', 'configs/vit/', 'configs/swin/README.md',
                 'configs/sem_fpn/fpn_r50_512x512_{80,160}k_ade20k.py'}
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


def page_citations_in(files: list[Path]) -> dict[tuple[str, str], list[str]]:
    """``{(page, anchor): ['file:line', ...]}`` for every ``README.md#<anchor>`` and ``docs/<page>.md#<anchor>`` in
    ``files``, the page relative to the repository root."""
    cited: dict[tuple[str, str], list[str]] = {}
    for path in files:
        for number, line in enumerate(path.read_text(encoding='utf-8', errors='replace').splitlines(), 1):
            for page, anchor in PAGE_CITATION.findall(line):
                cited.setdefault((page, anchor), []).append(place(path, number))
    return cited


def prose_and_code(markdown: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The lines of a markdown text outside code fences with inline code cut out, and the code: each fenced line
    and each inline code span (which may wrap onto the next line), with their line numbers."""
    lines, fenced, in_fence = [], [], False
    for number, line in enumerate(markdown.splitlines(), 1):
        if line.lstrip().startswith('```'):
            in_fence = not in_fence
            lines.append('')
        elif in_fence:
            fenced.append((number, line))
            lines.append('')
        else:
            lines.append(line)
    text = '\n'.join(lines)
    spans = [(text.count('\n', 0, found.start()) + 1, found.group(1).replace('\n', ' '))
             for found in INLINE_CODE.finditer(text)]
    prose = INLINE_CODE.sub(lambda found: '\n' * found.group(0).count('\n'), text)
    return list(enumerate(prose.split('\n'), 1)), sorted(fenced + spans)


def broken_links(page: Path) -> list[str]:
    """``'file:line: target (why)'`` for each relative link of a markdown page (the line of its target) whose file
    does not exist or whose ``#anchor`` is not a heading or ``<a id>`` of its target; web and mail links are not
    followed."""
    broken = []
    prose, _ = prose_and_code(page.read_text(encoding='utf-8'))
    text = '\n'.join(line for _, line in prose)  # a link's text may wrap onto the next line
    for found in MARKDOWN_LINK.finditer(text):
        number, target = text.count('\n', 0, found.end()) + 1, found.group(1)
        if re.match(r'[a-z][a-z0-9+.-]*:', target):
            continue
        file_part, _, anchor = target.partition('#')
        linked = (page.parent / file_part).resolve() if file_part else page
        if not linked.exists():
            broken.append(f'{place(page, number)}: {target} (no such file)')
        elif anchor and (linked.suffix != '.md' or anchor not in anchors_of(linked.read_text(encoding='utf-8'))):
            broken.append(f'{place(page, number)}: {target} (no such anchor)')
    return broken


def expand_braces(path: str) -> list[str]:
    """``a{b,c}d`` -> ``['abd', 'acd']``, as the shell expands it (nested braces included)."""
    found = re.search(r'\{([^{}]*,[^{}]*)\}', path)
    if not found:
        return [path]
    return [expanded for choice in found.group(1).split(',')
            for expanded in expand_braces(path[:found.start()] + choice + path[found.end():])]


def missing_paths(page: Path) -> list[str]:
    """``'file:line: path'`` for each repository path (``configs/...``, ``tools/...``, ``lvseg/...``, ...) named in
    a command block or inline code of a markdown page that matches no file or folder (``*`` globs, ``{a,b}``
    alternatives)."""
    missing = []
    _, code = prose_and_code(page.read_text(encoding='utf-8'))
    for number, span in code:
        for path in REPO_PATH.findall(span):
            path = path.rstrip('.,:;')
            if path in FOREIGN_PATHS:
                continue
            for expanded in expand_braces(path):
                if not (any(ROOT.glob(expanded.rstrip('/'))) if '*' in expanded else (ROOT / expanded).exists()):
                    missing.append(f'{place(page, number)}: {expanded}')
    return missing


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


def test_a_link_to_a_missing_file_or_anchor_is_found_and_web_links_are_not_followed(tmp_path):
    (tmp_path / 'guide.md').write_text('# Guide\n## Install steps\n')
    page = tmp_path / 'page.md'
    page.write_text('# Page\n[ok](guide.md#install-steps) [here](#page) [web](https://example.org/x.md#y)\n'
                    '[gone](missing.md) [bad](guide.md#install) `[in code](missing.md)` [a wrapped\n'
                    'text](guide.md#nowhere)\n'
                    '```\n[in a block](missing.md)\n```\n')
    assert broken_links(page) == [f'{page}:3: missing.md (no such file)',
                                  f'{page}:3: guide.md#install (no such anchor)',
                                  f'{page}:4: guide.md#nowhere (no such anchor)']


def test_paths_in_commands_and_inline_code_are_checked_with_globs_and_braces(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('Run `tools/train.py` on `configs/upernet_lvvit-{s,x}_8xb2-160k_ade20k-512x512.py`.\n'
                    '```bash\npython tools/nothing_here.py configs/official/\n```\n'
                    'In prose tools/not_checked.py is text; `bench/*.py` globs.\n')
    assert missing_paths(page) == [f'{page}:1: configs/upernet_lvvit-x_8xb2-160k_ade20k-512x512.py',
                                   f'{page}:3: tools/nothing_here.py']


def test_page_citations_are_found_with_their_page_and_anchor(tmp_path):
    source = tmp_path / 'module.py'
    first, second = 'results', 'data-pipeline'  # not spelled out: this file is scanned too
    source.write_text(f'"""See README.md#{first} and docs/performance.md#{second}; not ../README.md#{first}."""\n')
    assert page_citations_in([source]) == {('README.md', 'results'): [f'{source}:1'],
                                           ('docs/performance.md', 'data-pipeline'): [f'{source}:1']}


@pytest.mark.parametrize('page', PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_of_the_pages_resolves(page):
    assert not broken_links(page)


@pytest.mark.parametrize('page', PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_repository_path_the_pages_name_in_code_exists(page):
    assert not missing_paths(page)


def test_every_cited_page_section_exists():
    cited = page_citations_in(text_files(CITING_PAGES))
    assert cited, 'no README.md#<anchor> or docs/<page>.md#<anchor> citation found: has the citation form changed?'
    dangling = {f'{page}#{anchor}': places for (page, anchor), places in cited.items()
                if not (ROOT / page).is_file() or anchor not in anchors_of((ROOT / page).read_text(encoding='utf-8'))}
    assert not dangling, f'citations of sections that do not exist: {dangling}'


def test_the_readme_stays_short():
    lines = len((ROOT / 'README.md').read_text(encoding='utf-8').splitlines())
    assert lines <= README_MAX_LINES, f'README.md has {lines} lines: move details to docs/ (at most {README_MAX_LINES})'
