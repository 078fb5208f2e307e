"""README.md's snippets run, and every file it names exists.

Every fenced block has an info string: ``python`` and ``bash`` blocks are run unless an
HTML comment ``<!-- not run: why -->`` stands on the line before them; ``text`` blocks
are not code. Python blocks run as written (top-level ``await`` allowed), in a directory
holding an ``llm.yaml`` over two local chaos backends, with the few placeholder names
the prose uses (``messages``, ``questions``, ``run_the_tests``, ``log``) defined. Shell
blocks may only hold ``python -m runtime.inspect`` commands; they run against a log
with one real request, its placeholders (``LOG``, ``REQUEST_ID``...) filled in.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import io
import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from events import MemoryEventLog
from runtime import CheckResult, Runtime
from runtime.inspect import main as inspect_main
from runtime.testing import ChaosServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NOT_RUN = re.compile(r"^<!-- not run: .+ -->$")
RUN_LANGUAGES = {"python", "bash"}


class Block(msgspec.Struct, frozen=True):
    """One fenced code block of the README."""

    line: int
    """Line number of the block's first code line (1-based)."""
    language: str
    code: str
    marked_not_run: bool

    @property
    def runs(self) -> bool:
        return self.language in RUN_LANGUAGES and not self.marked_not_run


def blocks(text: str) -> list[Block]:
    """Every fenced block of ``text``, with its info string and whether it is marked."""
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        fence = lines[index]
        if not fence.startswith("```"):
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
        previous = lines[index - 1].strip() if index else ""
        found.append(
            Block(
                line=index + 2,
                language=fence.removeprefix("```").strip(),
                code="\n".join(lines[index + 1 : end]) + "\n",
                marked_not_run=bool(NOT_RUN.match(previous)),
            )
        )
        index = end + 1
    return found


BLOCKS = blocks(README.read_text(encoding="utf-8"))
PYTHON = [b for b in BLOCKS if b.runs and b.language == "python"]
SHELL = [b for b in BLOCKS if b.runs and b.language == "bash"]

LLM_YAML = """\
endpoints:
  - {{name: a, url: "{a}"}}
  - {{name: b, url: "{b}"}}
models:
  - {{name: llama3, deployments: [a, b]}}
  - {{name: llama3.2:3b, deployments: [a]}}
  - {{name: codellama, deployments: [a, b]}}
roles:
  generator: [codellama, llama3]
  escalation: [llama3]
event_log: {{path: runtime-demo.sqlite3}}
health: {{check_interval_seconds: 0}}
"""


async def run_the_tests(code: str) -> CheckResult:
    """The README's stand-in check: the chaos backends never write working code."""
    return CheckResult(ok="def add" in code, error="NameError: name 'add' is not defined")


@pytest.fixture
async def backends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Path]:
    """Two chaos backends and an ``llm.yaml`` over them in the working directory."""
    models = ["llama3", "llama3.2:3b", "codellama"]
    async with ChaosServer(models, seed=1) as a, ChaosServer(models, seed=2) as b:
        (tmp_path / "llm.yaml").write_text(LLM_YAML.format(a=a.url, b=b.url))
        monkeypatch.chdir(tmp_path)
        yield tmp_path


def test_the_readme_has_blocks_of_each_kind() -> None:
    assert len(PYTHON) >= 4 and SHELL
    assert any(b.marked_not_run for b in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"line{b.line}")
def test_every_block_says_what_it_is(block: Block) -> None:
    assert block.language in RUN_LANGUAGES | {"text"}, (
        f"README.md:{block.line}: give the block an info string (python, bash or text)"
    )


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: f"line{b.line}")
async def test_python_block_runs(block: Block, backends: Path) -> None:
    source = "\n" * (block.line - 1) + block.code  # tracebacks name README lines
    code = compile(source, str(README), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {
        "__name__": "readme",
        "messages": [{"role": "user", "content": "hi"}],
        "questions": ["what is 2 + 2?", "name a colour"],
        "run_the_tests": run_the_tests,
        "log": MemoryEventLog(),
    }
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, namespace)
    else:  # synchronous code (ThreadedRuntime) must not block the backends' loop
        await asyncio.to_thread(exec, code, namespace)


def commands(block: Block) -> list[list[str]]:
    """The block's commands as argument lists: continuation lines joined, comments dropped."""
    joined = block.code.replace("\\\n", " ")
    return [argv for line in joined.splitlines() if (argv := shlex.split(line, comments=True))]


async def a_logged_request(cwd: Path) -> str:
    """Send one request through the README's config; returns its request id."""
    async with Runtime.from_config(cwd / "llm.yaml") as rt:
        reply = await rt.chat([{"role": "user", "content": "hi"}], role="generator")
    return reply.request_id


@pytest.mark.parametrize("block", SHELL, ids=lambda b: f"line{b.line}")
async def test_shell_block_runs(block: Block, backends: Path) -> None:
    request_id = await a_logged_request(backends)
    placeholders = {
        "<REQUEST_ID>": request_id,
        "REQUEST_ID": request_id,
        "LOG": "runtime-demo.sqlite3",
        "[MODEL]": "codellama",
        "[--strict]": "--strict",
    }
    for argv in commands(block):
        for placeholder, value in placeholders.items():
            argv = [value if arg == placeholder else arg for arg in argv]
        command = shlex.join(argv)
        assert argv[:3] == ["python", "-m", "runtime.inspect"], (
            f"README.md:{block.line}: the test only runs runtime.inspect; mark the block "
            f"<!-- not run: why --> or teach the test: {command}"
        )
        out, err = io.StringIO(), io.StringIO()
        status = await asyncio.to_thread(inspect_main, argv[3:], stdout=out, stderr=err)
        assert status == 0, f"{command}\n{err.getvalue()}"


LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
FILE_NAME = re.compile(r"(?<![\w/.:-])((?:[\w.-]+/)*[\w.-]+\.(?:md|py|yaml|toml))(?![\w/])")


def named_files(text: str) -> set[str]:
    """Relative link targets and file names (``*.md``, ``*.py``...) the text mentions."""
    links = {m.group(1) for m in LINK.finditer(text) if "://" not in m.group(1)}
    return links | {m.group(1) for m in FILE_NAME.finditer(text)}


def exists(name: str) -> bool:
    """A path exists from the repository root; a bare file name anywhere in it."""
    if "/" in name:
        return (ROOT / name).exists()
    return any(".venv" not in path.parts and ".git" not in path.parts for path in ROOT.rglob(name))


PLACEHOLDERS = {"examples/NAME.py"}
"""File names the prose uses as patterns, not as files."""


def test_every_file_the_readme_names_exists() -> None:
    names = named_files(README.read_text(encoding="utf-8")) - PLACEHOLDERS
    assert {"examples/llm.yaml", "tests/real_backend/NOTES.md", "quickstart.py"} <= names
    missing = sorted(name for name in names if not exists(name))
    assert not missing, f"README.md names files that are not in the repository: {missing}"


def test_the_file_check_sees_a_missing_file() -> None:
    names = named_files("Security (RELIABILITY.md): see [the notes](docs/x.md) and `a/b.py`")
    assert names == {"RELIABILITY.md", "docs/x.md", "a/b.py"}
    assert not any(exists(name) for name in names)
