"""The documents only name what exists. README.md, docs/*.md, cluster/README.md and mlflow/README.md: every
repository path they mention (in code spans, code blocks and links) is in the repository, and every `--flag` is
a flag of the command it follows. The README also: every `selfre <command>` it shows is a real subcommand of
`selfre`'s parser, and its command table has a row for every subcommand.

A path is a repository path when its first segment is a top-level entry of the repository (cluster/, docs/,
tune/, selfre/, ... but not generated or ignored ones such as runs/); a link is relative to its document's folder.
A document outside the clone (a link or a `../...` path to a .md/.txt/.pdf file) is wrong too: a clone does not
have it. Folders outside it (where a user keeps data) are not checked. `<placeholder>` segments match any name.

A flag is checked against the real argparse parser of the project command before it on its (continued) line:
`selfre ...` (down to its subcommand), or a script of the repository (COMMANDS, e.g. tune/search.py; after a bare
`--`, the command the script passes its arguments to). Flags of other programs (pip, ray, mlflow, torchrun before
`selfre`) are theirs and not checked. A code span that is only flags (`--scheduler asha`) must name a flag of
some project command. Re-run after moving a command: COMMANDS is the one list of scripts.
"""

from __future__ import annotations

import argparse
import functools
import re
from fnmatch import fnmatch
from pathlib import Path
from unittest import mock

import pytest
from support import REPO, load_script

from selfre.cli import build_parser

README = REPO / "README.md"
DOCUMENTS = [
    README,
    *sorted((REPO / "docs").glob("*.md")),
    REPO / "cluster" / "README.md",
    REPO / "mlflow" / "README.md",
]
# The project's scripts with an argparse command line, and where the arguments after a bare `--` go (or None).
COMMANDS = {
    "tune/search.py": None,
    "tune/ablate.py": None,
    "benchmarks/bench_driver.py": None,
    "benchmarks/bench_overhead.py": None,
    "benchmarks/profile_search.py": "tune/search.py",
    "benchmarks/kill_resume.py": "tune/search.py",
    "benchmarks/spp_regimes.py": None,
    "benchmarks/spp_tables.py": None,
}
# `selfre` subcommands that hand every argument to a script's parser.
PASS_THROUGH = {"selfre search": "tune/search.py", "selfre ablate": "tune/ablate.py"}
FLAG = re.compile(r"^--[a-z][a-z0-9-]*")
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
    lines = (line.strip() for line in (repo / ".gitignore").read_text().splitlines())
    ignored = [line.strip("/") for line in lines if line and not line.startswith("#")]
    return {p.name for p in repo.iterdir() if p.name != ".git" and not any(fnmatch(p.name, i) for i in ignored)}


def code_and_links(text: str) -> tuple[list[str], list[str]]:
    """(code: the text of code blocks and code spans, links: link targets)."""
    blocks = CODE_BLOCK.findall(text)
    prose = CODE_BLOCK.sub("", text)
    return blocks + CODE_SPAN.findall(prose), LINK.findall(prose)


def named_paths(text: str, entries: set[str], folder: str = "") -> set[str]:
    """Repository paths `text` names; its links are relative to `folder` (the document's, from the repository root)."""
    code, links = code_and_links(text)
    tokens = [t for chunk in code for t in re.split(r"[\s'\"=(),;]+", chunk)]
    links = [link.split("#", 1)[0] for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")]
    paths = {_from_root(folder, link) for link in links}
    for token in tokens:
        token = token.rstrip(".:")
        if ("/" in token and token.split("/", 1)[0] in entries) or (token.startswith("../") and DOCUMENT.search(token)):
            paths.add(token)
    return paths


def _from_root(folder: str, link: str) -> str:
    """A link of a document in `folder`, as a path from the repository root (`../x` when it leaves the repository)."""
    parts: list[str] = []
    for part in [*Path(folder).parts, *link.split("/")]:
        if part == "..":
            if not parts or parts[-1] == "..":
                parts.append("..")
            else:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts) + ("/" if link.endswith("/") else "")


def generated(path: str, repo: Path = REPO) -> bool:
    """A path .gitignore names (cluster/secrets/auth_token): made by a command, so not in a clone."""
    lines = (line.strip() for line in (repo / ".gitignore").read_text().splitlines())
    return path.rstrip("/") in {
        line.strip("/") for line in lines if "/" in line.strip("/") and not line.startswith("#")
    }


def path_problems(text: str, repo: Path = REPO, folder: str = "") -> list[str]:
    problems = []
    for path in sorted(p for p in named_paths(text, repository_entries(repo), folder) if not generated(p, repo)):
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


class _Parser(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


@functools.cache
def script_parser(script: str) -> argparse.ArgumentParser:
    """The argparse parser `script`'s main() builds: caught when it starts parsing, before anything runs."""

    def caught(parser, *args, **kwargs):
        raise _Parser(parser)

    with mock.patch.object(argparse.ArgumentParser, "parse_known_args", caught):
        try:
            load_script(script).main()
        except _Parser as found:
            return found.parser
    raise AssertionError(f"{script}: main() parsed no command line")


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {o for action in parser._actions for o in action.option_strings if o.startswith("--")}


@functools.cache
def all_flags() -> frozenset[str]:
    """Every flag of every project command: what a code span of bare flags may name."""
    flags, todo = set(), [build_parser(), *(script_parser(c) for c in COMMANDS)]
    while todo:
        parser = todo.pop()
        flags |= _flags(parser)
        todo += _subcommands(parser).values()
    return frozenset(flags)


def command_lines(text: str) -> list[str]:
    """Each code block line (its `\\` continuations joined) and each code span: one command line each."""
    blocks = CODE_BLOCK.findall(text)
    spans = CODE_SPAN.findall(CODE_BLOCK.sub("", text))
    lines = [line for block in blocks for line in re.sub(r"\\\n", " ", block).splitlines()]
    return [line.split(" #", 1)[0] for line in lines + spans]


def flag_problems(text: str) -> list[str]:
    """`--flag`s that the command they follow does not take."""
    problems = []
    for line in command_lines(text):
        words = re.split(r"[\s'\"]+", line.strip())
        # A line of bare flags belongs to any project command; a line of another program's, to none.
        flags = all_flags() if words and FLAG.match(words[0]) else None
        owner = "a project command"
        i = 0
        while i < len(words):
            word = words[i]
            script = word.removeprefix("./")
            if word == "selfre":
                parser, owner = build_parser(), "selfre"
                while i + 1 < len(words) and words[i + 1] in _subcommands(parser):
                    i += 1
                    parser, owner = _subcommands(parser)[words[i]], f"{owner} {words[i]}"
                flags = _flags(parser)
                if "-" not in parser.prefix_chars:  # takes no flags itself: passes them on
                    owner = PASS_THROUGH[owner]
                    flags = _flags(script_parser(owner))
            elif script in COMMANDS:
                flags, owner = _flags(script_parser(script)), script
            elif word in ("|", "&&", ";", "||"):
                flags = None
            elif word == "--" and flags is not None and owner in COMMANDS:
                after = COMMANDS[owner]
                flags, owner = (_flags(script_parser(after)), after) if after else (None, owner)
            elif (match := FLAG.match(word)) and flags is not None and match.group() not in flags:
                problems.append(f"{match.group()}: not a flag of {owner}")
            i += 1
    return sorted(set(problems))


def test_every_path_the_readme_names_exists():
    problems = path_problems(README.read_text())
    assert set(problems) - PENDING == set()
    assert PENDING <= set(problems), "fixed in the README: remove it from PENDING"


def test_every_selfre_command_in_the_readme_exists():
    assert command_problems(README.read_text(), build_parser()) == []


def test_the_command_table_lists_every_subcommand():
    assert table_problems(README.read_text(), build_parser()) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(REPO)))
def test_every_path_a_document_names_exists(document):
    folder = str(document.parent.relative_to(REPO))
    assert path_problems(document.read_text(), folder="" if folder == "." else folder) == []


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(REPO)))
def test_every_flag_a_document_shows_is_a_flag_of_its_command(document):
    assert flag_problems(document.read_text()) == []


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


def test_the_checks_catch_stale_flags_and_links():
    text = (
        "```bash\nselfre train --out runs/x --no-such-flag\npython tune/search.py --dataset demo \\\n"
        "    --max-concurrent 2 --gone\npip install --upgrade pip   # another program's flags\n"
        "python benchmarks/profile_search.py --out /tmp/p -- --dataset demo --num-samples 2 --nope\n```\n"
        "`--scheduler asha`, `--frobnicate 3`, `torchrun --nproc-per-node 2 selfre train --epochs 2`.\n"
        "[method](method.md), [gone](gone.md), [main](../README.md).\n"
    )
    assert flag_problems(text) == [
        "--frobnicate: not a flag of a project command",
        "--gone: not a flag of tune/search.py",
        "--no-such-flag: not a flag of selfre train",
        "--nope: not a flag of tune/search.py",
    ]
    assert path_problems(text, folder="docs") == ["docs/gone.md: no such file or folder in the repository"]


def layout_block(text: str) -> str:
    section = text.split("## Layout", 1)[1]
    return CODE_BLOCK.search(section).group(1)


def layout_problems(layout: str, repo: Path = REPO) -> list[str]:
    """What the README's Layout block leaves out: a top-level entry, a selfre/ subpackage or module, a file of
    tune/ or benchmarks/ (the names a newcomer looks for first)."""
    words = set(re.findall(r"[\w.-]+/?", layout))
    wanted = {f"{name}/" if (repo / name).is_dir() else name for name in repository_entries(repo)}
    wanted -= {"LICENSE", "Makefile", "README.md", "pyproject.toml", ".ci/", ".gitignore", ".gitattributes"}
    wanted |= {f"{p.name}/" for p in (repo / "selfre").iterdir() if (p / "__init__.py").exists()}
    wanted |= {p.name for p in (repo / "selfre").glob("*.py") if not p.name.startswith("_")}
    for folder in ("tune", "benchmarks"):
        wanted |= {p.name for p in (repo / folder).iterdir() if p.is_file()}
    named = {w.rstrip("/") for w in words} | {
        w.split("/")[-2] + "/" for w in words if w.count("/") >= 1 and w.endswith("/")
    }
    return sorted(w for w in wanted if w.rstrip("/") not in named and w.rstrip("/").split("/")[-1] not in named)


def test_the_readme_layout_names_every_folder_and_module():
    assert layout_problems(layout_block(README.read_text())) == []


def test_the_layout_check_catches_what_is_left_out():
    layout = layout_block(README.read_text()).replace("stage_timer.py", "").replace("benchmarks/", "tools/")
    missing = layout_problems(layout)
    assert "stage_timer.py" in missing and "benchmarks/" in missing
