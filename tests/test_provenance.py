"""Another distribution's ``events``/``actors`` package fails ``import`` with one clear line.

PyPI's ``Events`` installs a top-level ``events`` package; with it earlier on the path
(or installed over ours), importing our packages must name it and say what to do,
instead of failing later with an unrelated "cannot import name".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import actors
import events
import runtime

ROOT = Path(__file__).resolve().parent.parent


def fake_package(site: Path, package: str, distribution: str | None) -> None:
    """A foreign top-level ``package`` in ``site``, installed by ``distribution``."""
    (site / package).mkdir(parents=True)
    (site / package / "__init__.py").write_text("class Events:\n    pass\n")
    if distribution is None:
        return
    info = site / f"{distribution}-0.5.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.5\n")
    (info / "top_level.txt").write_text(f"{package}\n")
    (info / "RECORD").write_text(f"{package}/__init__.py,,\n{info.name}/METADATA,,\n")


def import_with(site: Path, statement: str) -> subprocess.CompletedProcess[str]:
    """Run ``statement`` in a fresh interpreter with ``site`` first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", statement],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def the_error(result: subprocess.CompletedProcess[str]) -> str:
    """The message of the ImportError the traceback ends with (its one line)."""
    assert result.returncode == 1, result.stderr
    last = result.stderr.rstrip("\n").splitlines()[-1]
    assert last.startswith("ImportError: "), result.stderr
    return last.removeprefix("ImportError: ")


@pytest.mark.parametrize("statement", ["import runtime", "import actors", "import runtime.serve"])
def test_a_foreign_events_package_is_named(tmp_path: Path, statement: str) -> None:
    fake_package(tmp_path, "events", "Events")
    message = the_error(import_with(tmp_path, statement))
    assert "'Events'" in message
    assert "'events'" in message
    assert str(tmp_path / "events" / "__init__.py") in message
    assert "pip uninstall Events" in message
    assert "virtualenv" in message


def test_a_foreign_actors_package_is_named(tmp_path: Path) -> None:
    fake_package(tmp_path, "actors", "Actors")
    message = the_error(import_with(tmp_path, "import runtime"))
    assert "'Actors'" in message and "'actors'" in message
    assert "pip uninstall Actors" in message


def test_a_package_of_no_distribution_is_named_by_its_path(tmp_path: Path) -> None:
    fake_package(tmp_path, "events", None)
    message = the_error(import_with(tmp_path, "import runtime"))
    assert str(tmp_path / "events" / "__init__.py") in message
    assert "no installed distribution" in message


def test_our_own_packages_import_and_carry_the_marker(tmp_path: Path) -> None:
    result = import_with(tmp_path, "import runtime, actors, events")
    assert result.returncode == 0, result.stderr
    markers = {getattr(m, "_DISTRIBUTION", None) for m in (events, actors, runtime)}
    assert markers == {"llm-reliability-runtime"}
