"""The docs a new user reads: a README short enough to read in ten minutes, no internal issue
numbers (they mean nothing outside the project's tracker), and no link that leads nowhere.

A link is checked to its file and, where it names one, to a heading of that file, so a heading
renamed in one doc fails here instead of leaving a dead anchor in another."""

import re
from pathlib import Path

import pytest
from conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300  # the user's first hour: the README is read in ten minutes
# "issue 24", "issues 13, 20", "(issue 20)", "#24": internal tracker numbers
ISSUE_NUMBER = re.compile(r"\bissues? \d+|(?<![\w&/])#\d+\b", re.I)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def prose(text: str) -> str:
    """The text outside code: a command's `#` comment or a literal is not a link or a number."""
    return CODE.sub("", text)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens."""
    found = set()
    for line in CODE.sub("", path.read_text()).splitlines():
        m = re.match(r"#{1,6} (.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            found.add(slug)
    return found


def relative_links(path: Path) -> list[str]:
    """Every link in ``path`` that is not a web address."""
    return [t for t in LINK.findall(prose(path.read_text())) if not re.match(r"[a-z]+:", t)]


def test_readme_is_short():
    n = len((ROOT / "README.md").read_text().splitlines())
    assert n < README_MAX_LINES, f"README.md has {n} lines; move detail to docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_internal_issue_numbers(doc):
    hits = [
        f"{doc.name}:{i}: {line.strip()}"
        for i, line in enumerate(doc.read_text().splitlines(), 1)
        if ISSUE_NUMBER.search(line)
    ]
    assert not hits, "internal issue numbers (use a topic, a date or a commit):\n" + "\n".join(hits)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_resolve(doc):
    dead = []
    for target in relative_links(doc):
        file, _, anchor = target.partition("#")
        dest = (doc.parent / file).resolve() if file else doc
        if not dest.exists():
            dead.append(f"{target}: no file {dest.relative_to(ROOT)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            dead.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not dead, f"{doc.name}: dead links:\n" + "\n".join(dead)


def test_the_checks_see_what_they_check(tmp_path):
    """The patterns catch the forms the docs used to have, and the slug matches GitHub's."""
    assert ISSUE_NUMBER.search("before issue 24 balanced the CPUs")
    assert ISSUE_NUMBER.search("### The protocol (Issue 20)")
    assert ISSUE_NUMBER.search("issues 13, 20 and 21")
    assert ISSUE_NUMBER.search("see #24")
    assert not ISSUE_NUMBER.search("`ray start --port 6379`, a hold at 5% for 72,000 steps")
    assert not ISSUE_NUMBER.search("[a](b.md#where-36-comes-from) &#8212;")
    page = tmp_path / "p.md"
    page.write_text("# Where 3.6 comes from: vocabulary, tying\n```\n# not a heading\n```\n")
    assert anchors(page) == {"where-36-comes-from-vocabulary-tying"}
    page.write_text("[x](p.md#nowhere) `[y](gone.md)` [z](https://example.org/q)\n")
    assert relative_links(page) == ["p.md#nowhere"]
