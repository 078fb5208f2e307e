"""``examples/sync_script.py`` runs as a user would run it: a synchronous script."""

from __future__ import annotations

import re
from pathlib import Path

from tests.examples.test_examples import run_example


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not in the output:\n{text}"
    return match.group(1)


def test_the_sync_script_chats_in_parallel_streams_and_stops_cleanly() -> None:
    out = run_example("sync_script.py")
    answered = re.findall(r"question (\d) -> llama3@local: '.+'", out)
    assert answered == ["0", "1", "2", "3", "4", "5"]
    assert "all 6 answered in" in out
    streamed = out.split("stream: ")[1].splitlines()[0].split()
    assert len(streamed) >= 5 and int(found(r"(\d+) chunks, the last one done=True", out)) > 1
    assert "health: llama3: healthy (llama3@local: healthy)" in out
    assert "usage today: 7 requests" in out and "by model: {'llama3': 7}" in out
    assert int(found(r"event log: (\d+) events committed", out)) > 7
    assert out.rstrip().endswith("stopped: loop thread alive=False, running=False")
    assert not Path(found(r"event log: (\S+)", out)).parent.exists()  # temp dir removed
