"""The README and docs/ stay a house a newcomer can walk through: a short README, links that
lead somewhere, and commands marked `<!-- runnable -->` that tests/e2e/test_docs_runnable.py
runs for real."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

README_MAX_LINES = 250
RUNNABLE = "<!-- runnable -->"
# [text](target) and [text]: target, skipping images' and links' absolute targets below.
_INLINE_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^(```|~~~)")


@dataclass(frozen=True)
class Block:
    """A fenced bash block marked runnable: its file, the line of its first command, and its
    text."""
    path: Path
    line: int
    text: str

    @property
    def first_line(self) -> str:
        return next((ln for ln in self.text.splitlines() if ln.strip()), "")


def doc_files() -> list[Path]:
    """README.md, every docs/*.md and benchmarks/README.md (those that exist)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "benchmarks" / "README.md"]
    return [f for f in files if f.is_file()]


def runnable_blocks(path: Path) -> list[Block]:
    """The ```bash blocks of ``path`` whose previous line is `<!-- runnable -->`, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == RUNNABLE:
            if i + 1 >= len(lines) or lines[i + 1].strip() != "```bash":
                raise ValueError(f"{path.name}:{i + 1}: {RUNNABLE} must be followed by a ```bash block")
            end = i + 2
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise ValueError(f"{path.name}:{i + 2}: the runnable block is never closed")
            blocks.append(Block(path, i + 3, "\n".join(lines[i + 2:end]) + "\n"))
            i = end
        i += 1
    return blocks


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (links inside code are examples, not links)."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line)
    return "\n".join(out)


def relative_links(path: Path) -> list[str]:
    """The link targets in ``path``'s prose that name a file of this project (no scheme, no
    pure #anchor), without their #fragment."""
    targets = []
    for target in _INLINE_LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_readme_is_short() -> None:
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, (f"README.md has {n} lines (at most {README_MAX_LINES}): "
                                   "move detail to docs/")


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    missing = [t for t in relative_links(path) if not (path.parent / t).exists()]
    assert not missing, f"{path.relative_to(ROOT)} links to missing files: {missing}"


def test_readme_has_runnable_blocks() -> None:
    assert runnable_blocks(ROOT / "README.md"), f"README.md has no {RUNNABLE} bash block"


def test_every_runnable_marker_is_well_formed() -> None:
    for path in doc_files():
        runnable_blocks(path)  # raises naming the file and line


def test_readme_names_both_test_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test " in text and "make test-all" in text


def test_parser_finds_marked_blocks_only(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("# t\n\n```bash\nnot this\n```\n\n<!-- runnable -->\n```bash\necho one\n"
                   "echo two\n```\n\n<!-- runnable -->\n```bash\necho three\n```\n")
    blocks = runnable_blocks(doc)
    assert [b.first_line for b in blocks] == ["echo one", "echo three"]
    assert blocks[0].line == 9 and blocks[0].text == "echo one\necho two\n"
    doc.write_text("<!-- runnable -->\n```python\nprint(1)\n```\n")
    with pytest.raises(ValueError, match=r"x\.md:1"):
        runnable_blocks(doc)


def test_link_checker_skips_code_and_urls(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("[a](a.md) [b](https://example.org) [c](#here) [d](d.md#part)\n"
                   "```\n[e](e.md)\n```\n")
    assert relative_links(doc) == ["a.md", "d.md"]


# A file of this project named in prose: `tests/...py`, `src/genrevae/...py`, `benchmarks/...`.
_PROJECT_FILE = re.compile(r"`((?:src/genrevae|tests|benchmarks|stages|conf)/[\w./-]+\.(?:py|yaml))`")
# A module named by its path inside the package: `features/kernels/hpss.py`.
_PACKAGE_FILE = re.compile(
    r"`((?:config|data|features|inputs|models|evaluation|tracking|serving|pipeline)/[\w/]+\.py)`")


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_files_named_in_the_docs_exist(path: Path) -> None:
    """A file moved or renamed leaves no stale name behind in the docs."""
    text = path.read_text(encoding="utf-8")
    missing = [name for name in _PROJECT_FILE.findall(text) if not (ROOT / name).exists()]
    missing += [name for name in _PACKAGE_FILE.findall(text)
                if not (ROOT / "src" / "genrevae" / name).exists()]
    assert not missing, f"{path.relative_to(ROOT)} names files that do not exist: {missing}"


def test_the_file_check_sees_both_kinds_of_name() -> None:
    text = "see `tests/models/test_registry.py` and `models/names.py`, not `models/gone.py`"
    assert _PROJECT_FILE.findall(text) == ["tests/models/test_registry.py"]
    assert _PACKAGE_FILE.findall(text) == ["models/names.py", "models/gone.py"]
    assert len(_PACKAGE_FILE.findall((ROOT / "README.md").read_text(encoding="utf-8"))) >= 3
