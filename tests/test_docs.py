"""README.md and packaging/README.md say only what is true: their commands are run.

Every fenced ``sh`` block's commands and every ``python`` block are run, in document order, in a
temporary folder per document (commands share it: the tutorial's ``export`` reads what its
``train`` wrote), with ``layerforge`` meaning this checkout's ``python -m app`` and ``HOME`` a
temporary folder too. Commands that cannot run here are skipped with the reason (``-ra`` lists
them): those that need the network (``pip install``), a display, a GPU, another system, or a
built bundle. ``python packaging/build.py ...`` is not built (``tests/packaging`` builds the
bundle once) but its options are parsed by build.py's own parser, in the Windows blocks too. Of
the ``text`` blocks, the command-line synopsis is compared with the argument parsers, and the
run-folder listing with a run.

Running one command alone (``-k``) can fail where the commands before it were not run.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from app.cli.parser import COMMANDS, command_parser, top_parser

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "packaging/README.md")

# (pattern found in the command, why it is not run here); the first match counts
NOT_RUN = (
    (r"\bpip install\b", "installs from PyPI: needs the network"),
    (r"^python3? -m venv \.venv && \. \.venv/bin/activate$",
     "makes the virtual environment the next command installs into from PyPI (network)"),
    (r"dist/layerforge/layerforge\b|LayerForge\.app",
     "runs a built bundle: tests/packaging/test_frozen_build.py builds one and runs it"),
    (r"(^|&& )layerforge( \S+\.json)?$", "opens the window: needs a display"),
    (r"\bcuda:\d", "needs an NVIDIA GPU"),
    (r"^tensorboard\b", "starts TensorBoard's web server, which runs until it is stopped"),
)
SHELLS = ("sh", "bat")  # bat: Windows (cmd.exe), not run here
BUILD_SCRIPT = re.compile(r"^python3? packaging[/\\]build\.py\b(.*)$")


@dataclass(frozen=True)
class Snippet:
    document: str
    line: int
    language: str  # "sh", "bat", "python" or "text"
    text: str

    @property
    def id(self) -> str:
        first = self.text.splitlines()[0] if self.text else ""
        return f"{self.document}:{self.line} {first[:60]}"


def fenced_blocks(document: str) -> list[Snippet]:
    """The fenced code blocks of a Markdown file, with the line their text starts on."""
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        blocks.append(Snippet(document, i + 2, opening.group(1), "\n".join(lines[i + 1:end])))
        i = end + 1
    return blocks


def commands(block: Snippet) -> list[Snippet]:
    """One snippet per command of a shell block: continuation lines joined, comments dropped."""
    out: list[Snippet] = []
    pending, start = "", 0
    for offset, raw in enumerate(block.text.splitlines()):
        line = raw.strip()
        if not pending:
            start = block.line + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = _without_comment(pending + line).strip()
        pending = ""
        if text:
            out.append(Snippet(block.document, start, block.language, text))
    return out


def _without_comment(command: str) -> str:
    """The command without its trailing ``# comment`` (a '#' that starts a word outside
    quotes)."""
    for hash_ in re.finditer(r"\s#", command):
        head = command[:hash_.start()]
        if head.count('"') % 2 == 0 and head.count("'") % 2 == 0:
            return head
    return command


def snippets() -> list[Snippet]:
    out: list[Snippet] = []
    for document in DOCUMENTS:
        for block in fenced_blocks(document):
            if block.language in SHELLS:
                out += commands(block)
            elif block.language == "python":
                out.append(block)
    return out


def why_not_run(snippet: Snippet) -> str | None:
    """The reason a snippet is not run here, or None."""
    if snippet.language == "python":
        missing = sorted(name for name in _imports(snippet.text)
                         if importlib.util.find_spec(name) is None)
        return f"needs {', '.join(missing)} (not installed here)" if missing else None
    if BUILD_SCRIPT.match(snippet.text):
        return None  # its options are checked, on every system
    if snippet.language == "bat":
        return "a Windows (cmd.exe) command"
    if snippet.text == _readme_test_command():
        return "the command that runs this test: CI runs it (.ci/run, checked to be the same)"
    return next((why for pattern, why in NOT_RUN if re.search(pattern, snippet.text)), None)


def _imports(code: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - {"model"}  # the module --format pytorch writes, found on sys.path at run time


def _readme_test_command() -> str:
    return next(c.text for b in fenced_blocks("README.md") if b.language == "sh"
                for c in commands(b) if "python -m pytest" in c.text)


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder per document, shared by its commands, with a HOME of its own, a ``layerforge``
    that runs this checkout, and ``packaging/`` linked in (its commands read files there)."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "layerforge"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m app "$@"\n')
    shim.chmod(0o755)
    folders = {}
    for document in DOCUMENTS:
        folder = tmp_path_factory.mktemp(Path(document).parent.name or "readme")
        (folder / "home").mkdir()
        (folder / "packaging").symlink_to(ROOT / "packaging", target_is_directory=True)
        folders[document] = folder
    folders["bin"] = bin_dir
    return folders


@pytest.mark.parametrize("snippet", snippets(), ids=lambda s: s.id)
def test_documented_command_runs(snippet: Snippet, workspaces: dict[str, Path],
                                 packaging_build: ModuleType) -> None:
    reason = why_not_run(snippet)
    if reason:
        pytest.skip(f"{snippet.id}: {reason}")
    build_script = BUILD_SCRIPT.match(snippet.text)
    if build_script:  # its options, as build.py reads them (a build takes a minute)
        try:
            packaging_build.parser().parse_args(shlex.split(build_script.group(1)))
        except SystemExit as exc:
            pytest.fail(f"{snippet.id}: build.py refuses these options (exit {exc.code})")
        return
    cwd = workspaces[snippet.document]
    env = dict(os.environ, HOME=str(cwd / "home"), PYTHONPATH=str(ROOT),  # `python`: this one
               PATH=os.pathsep.join([str(workspaces["bin"]), str(Path(sys.executable).parent),
                                     os.environ.get("PATH", "")]))
    argv = ([sys.executable, "-c", snippet.text] if snippet.language == "python"
            else ["bash", "-euo", "pipefail", "-c", snippet.text])
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"{snippet.id} exited {proc.returncode}\n"
                                  f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == _readme_test_command()


def test_the_tutorial_is_run() -> None:
    """The skip table cannot swallow the commands a newcomer types first."""
    run = [s.text for s in snippets() if why_not_run(s) is None]
    for command in ("layerforge new mlp.json --template mlp_digits",
                    "layerforge train mlp.json --epochs 3 --out run1"):
        assert command in run


# ---------------------------------------------------------------------- the synopsis
def _synopsis() -> list[str]:
    """The README's ``layerforge ...`` usage lines, continuation lines joined, descriptions
    (after two spaces) left out."""
    block = next(b for b in fenced_blocks("README.md")
                 if b.language == "text" and b.text.startswith("layerforge"))
    entries: list[str] = []
    for line in block.text.splitlines():
        usage = re.split(r"\s{2,}", line.strip())[0]
        if line.startswith("layerforge"):
            entries.append(usage)
        elif line.strip().startswith("["):
            entries[-1] += " " + usage
    return entries


@dataclass
class _Usage:
    options: dict[str, tuple[bool, str | None]]  # name -> (required, the word after it)
    positionals: list[tuple[str, bool]]  # (name, required)


def _read_usage(words: list[str]) -> _Usage:
    usage = _Usage({}, [])
    depth, previous_option = 0, None
    for word in words:
        opening = word.count("[")
        depth += opening
        bare = word.strip("[]")
        required = depth == 0
        if bare == "|":
            usage.options = {k: (False, v) for k, (_, v) in usage.options.items()}
            previous_option = None
        elif bare.startswith("-"):
            usage.options[bare] = (required and "|" not in words, None)
            previous_option = bare
        elif previous_option is not None and usage.options[previous_option][1] is None:
            usage.options[previous_option] = (usage.options[previous_option][0], bare)
            previous_option = None
        else:
            usage.positionals.append((bare, required))
        depth -= word.count("]")
    return usage


def _compare(parser, usage: _Usage, where: str) -> None:  # noqa: ANN001 - argparse parser
    documented = set(usage.options)
    for action in parser._actions:
        if not action.option_strings:
            continue
        names = [n for n in action.option_strings if n in documented]
        if action.dest == "help" and not names and where != "layerforge":
            continue  # every command has --help; the synopsis shows it once
        assert names, f"{where}: {'/'.join(action.option_strings)} is not in the README"
        documented -= set(names)
        required, value = usage.options[names[0]]
        assert required == action.required, f"{where}: {names[0]} required={action.required}"
        takes_value = action.nargs != 0
        assert (value is not None) == takes_value, f"{where}: {names[0]} takes a value: " \
                                                   f"{takes_value}"
        if action.choices is not None:
            assert set(value.split("|")) == set(action.choices), f"{where}: {names[0]} choices"
    assert not documented, f"{where}: the README shows {sorted(documented)}, the parser has not"
    positionals = [a for a in parser._actions if not a.option_strings]
    assert [r for _, r in usage.positionals] == [a.nargs != "?" for a in positionals], \
        f"{where}: positionals {usage.positionals} vs {[a.dest for a in positionals]}"


def test_the_synopsis_is_the_argument_parser() -> None:
    entries = _synopsis()
    by_command: dict[str, list[str]] = {}
    top: list[str] = []
    for entry in entries:
        words = entry.split()[1:]
        if words and words[0] in COMMANDS:
            by_command[words[0]] = words[1:]
        else:
            top += words
    assert sorted(by_command) == sorted(COMMANDS)
    for command, words in by_command.items():
        _compare(command_parser(command), _read_usage(words), f"layerforge {command}")
    _compare(top_parser(), _read_usage(top), "layerforge")


# ---------------------------------------------------------------------- the run folder
def test_a_run_folder_holds_what_the_readme_lists(tmp_path: Path) -> None:
    block = next(b for b in fenced_blocks("README.md")
                 if b.language == "text" and "run.json" in b.text)
    listed = [line.split()[0] for line in block.text.splitlines()
              if line.startswith("    ")]
    project = tmp_path / "mlp.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for argv in (["new", str(project), "--template", "spiral"],
                 ["train", str(project), "--epochs", "1", "--quiet"]):
        proc = subprocess.run([sys.executable, "-m", "app", *argv], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    (run,) = (tmp_path / "runs" / "mlp").iterdir()
    assert re.fullmatch(r"\d{8}-\d{6}", run.name)
    assert listed and all(any(p.is_file() for p in run.glob(name)) for name in listed), \
        sorted(str(p.relative_to(run)) for p in run.rglob("*"))
