"""The README only names what exists: every repository path it mentions (in code spans, code blocks and links)
is in the repository, every `selfre <command>` it shows is a real subcommand of `selfre`'s parser, and its
command table has a row for every subcommand.

A path is a repository path when its first segment is a top-level entry of the repository (cluster/, docs/,
tune/, selfre/, ... but not generated or ignored ones such as runs/). A document outside the clone (a link or a
`../...` path to a .md/.txt/.pdf file) is wrong too: a clone does not have it. Folders outside it (where a user
keeps data) are not checked. `<placeholder>` segments match any name.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from support import REPO

from selfre.cli import build_parser

README = REPO / "README.md"
CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
COMMAND = re.compile(r"(?<![\w./-])selfre((?: [a-z][a-z0-9-]*)+)")
TABLE_ROW = re.compile(r"^\| `selfre ([a-z][a-z0-9-]*)", re.M)
DOCUMENT = re.compile(r"\.(md|txt|pdf|rst|html)$")
# Stale, and known: each entry must still be in the README (test below), so the list empties as the README is
# fixed instead of hiding new problems. Empty now.
PENDING: set[str] = set()


def repository_entries(repo: Path = REPO) -> set[str]:
    """Top-level names of the repository: what is there, minus what .gitignore keeps out of it (runs/, .venv/)."""
    ignored = {line.strip().strip("/") for line in (repo / ".gitignore").read_text().splitlines() if line.strip()}
    return {p.name for p in repo.iterdir() if p.name not in ignored and p.name != ".git"}


def code_and_links(text: str) -> tuple[list[str], list[str]]:
    """(code: the text of code blocks and code spans, links: link targets)."""
    blocks = CODE_BLOCK.findall(text)
    prose = CODE_BLOCK.sub("", text)
    return blocks + CODE_SPAN.findall(prose), LINK.findall(prose)


def named_paths(text: str, entries: set[str]) -> set[str]:
    code, links = code_and_links(text)
    tokens = [t for chunk in code for t in re.split(r"[\s'\"=(),;]+", chunk)]
    links = [link.split("#", 1)[0] for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")]
    paths = set(links)
    for token in tokens:
        token = token.rstrip(".:")
        if ("/" in token and token.split("/", 1)[0] in entries) or (token.startswith("../") and DOCUMENT.search(token)):
            paths.add(token)
    return paths


def path_problems(text: str, repo: Path = REPO) -> list[str]:
    problems = []
    for path in sorted(named_paths(text, repository_entries(repo))):
        if path.startswith("../"):
            problems.append(f"{path}: outside the repository (a clone does not have it)")
            continue
        pattern = re.sub(r"<[^>]+>", "*", path.rstrip("/"))
        if not any(repo.glob(pattern)) if "*" in pattern else not (repo / pattern).exists():
            problems.append(f"{path}: no such file or folder in the repository")
    return problems


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def command_problems(text: str, parser: argparse.ArgumentParser) -> list[str]:
    code, _ = code_and_links(text)
    problems = []
    for chunk in code:
        for words in COMMAND.findall(chunk):
            sub, shown = parser, ["selfre"]
            for word in words.split():
                choices = _subcommands(sub)
                if not choices:
                    break  # a command's own arguments follow
                shown.append(word)
                if word not in choices:
                    problems.append(f"`{' '.join(shown)}`: not a subcommand of {' '.join(shown[:-1])}")
                    break
                sub = choices[word]
    return sorted(set(problems))


def table_problems(text: str, parser: argparse.ArgumentParser) -> list[str]:
    listed = set(TABLE_ROW.findall(text))
    return [f"selfre {name}: no row in the command table" for name in _subcommands(parser) if name not in listed]


def test_every_path_the_readme_names_exists():
    problems = path_problems(README.read_text())
    assert set(problems) - PENDING == set()
    assert PENDING <= set(problems), "fixed in the README: remove it from PENDING"


def test_every_selfre_command_in_the_readme_exists():
    assert command_problems(README.read_text(), build_parser()) == []


def test_the_command_table_lists_every_subcommand():
    assert table_problems(README.read_text(), build_parser()) == []


def test_the_checks_catch_stale_names():
    text = (
        "See `cluster/gone.yaml`, [the spec](../shared/SPEC.md) and `tune/configs/<dataset>.yaml`.\n"
        "```bash\nselfre train --out runs/x   # runs/ is generated, not checked\nselfre frobnicate --x\n"
        "selfre data nope\n```\nData in `../shared/data` (a folder outside the clone: not checked).\n"
        "| `selfre train ...` | one run |\n"
    )
    assert path_problems(text) == [
        "../shared/SPEC.md: outside the repository (a clone does not have it)",
        "cluster/gone.yaml: no such file or folder in the repository",
    ]
    assert command_problems(text, build_parser()) == [
        "`selfre data nope`: not a subcommand of selfre data",
        "`selfre frobnicate`: not a subcommand of selfre",
    ]
    missing = table_problems(text, build_parser())
    assert "selfre evaluate: no row in the command table" in missing and not any("train" in m for m in missing)
