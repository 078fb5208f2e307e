"""The layer rule: events <- actors <- runtime, enforced by scanning imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {"events": {"actors", "runtime"}, "actors": {"runtime"}, "runtime": set()}
# Pure modules (decide/evolve, parsers) must not do I/O, read clocks or draw randomness.
IMPURE = {"asyncio", "httpx", "aiohttp", "aiosqlite", "sqlite3", "structlog", "time", "random"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``, including lazy ones."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import; use absolute package imports")
    return found


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_downwards(package: str) -> None:
    violations = [
        f"{path.relative_to(ROOT)} imports {bad}"
        for path in package_files(package)
        for bad in sorted(imported_modules(path) & FORBIDDEN[package])
    ]
    assert not violations, "layer rule (events <- actors <- runtime) broken:\n" + "\n".join(
        violations
    )


# Modules that hold decide/evolve logic, parsers and formulas: pure by design (DESIGN.md).
PURE = {
    "events/_codec.py",
    "events/_replay.py",
    "events/_postgres_plan.py",
    "events/_read_filter.py",
    "events/_appends.py",
    "actors/_supervision.py",
    "actors/router/_retry.py",
    "actors/router/_plan_events.py",
    "actors/router/_select.py",
    "actors/catalog/_logic.py",
    "events/_redaction.py",
    "runtime/_redaction.py",
    "runtime/_request_line.py",
    "runtime/_messages.py",
    "runtime/_params.py",
    "runtime/_listing.py",
    "runtime/_config_fallbacks.py",
    "runtime/_retention_policy.py",
    "runtime/_metrics_labels.py",
    "runtime/_demo_text.py",
    "runtime/inspect/_render.py",
    "runtime/inspect/_filters.py",
    "runtime/inspect/_errors.py",
    "runtime/inspect/_when.py",
    "runtime/inspect/_state_model.py",
    "runtime/inspect/_state_render.py",
    "runtime/inspect/_explain_types.py",
    "runtime/inspect/_explain_model.py",
    "runtime/inspect/_explain_text.py",
    "runtime/inspect/_explain_render.py",
    "runtime/inspect/_implausible.py",
    "runtime/inspect/_timeline_model.py",
    "runtime/inspect/_timeline_render.py",
    "runtime/inspect/_timeline_lines.py",
    "runtime/inspect/_requests_render.py",
    "runtime/inspect/_requests_args.py",
    "runtime/inspect/_requests_model.py",
    "runtime/inspect/_requests_row.py",
    "runtime/inspect/web/_index.py",
    "runtime/inspect/web/_index_bands.py",
    "runtime/inspect/web/_index_flow.py",
    "runtime/inspect/web/_index_latency.py",
    "runtime/inspect/web/_index_quota.py",
    "runtime/inspect/web/_index_rates.py",
    "runtime/inspect/web/_index_retain.py",
    "runtime/inspect/web/_index_span.py",
    "runtime/inspect/web/_index_store.py",
    "runtime/inspect/web/_html.py",
    "runtime/inspect/web/_pages.py",
    "runtime/inspect/web/_pages_more.py",
    "runtime/inspect/web/_pages_requests.py",
    "runtime/inspect/web/_svg.py",
    "runtime/inspect/web/_svg_charts.py",
    "runtime/inspect/web/_svg_flow.py",
    "runtime/inspect/web/_views.py",
    "runtime/inspect/web/_waterfall.py",
    "runtime/serve/_admin_body.py",
    "runtime/serve/_auth.py",
    "runtime/serve/_errors.py",
    "runtime/serve/_field_types.py",
    "runtime/serve/_fields.py",
    "runtime/serve/_limits.py",
    "runtime/serve/_openai.py",
    "runtime/serve/_ollama.py",
    "runtime/serve/_pool.py",
    "runtime/serve/_settings.py",
    "runtime/serve/_views.py",
}
# Every module of the domain packages is pure except their shells: the actor that owns
# the state (``_actor.py``) and the modules that do I/O for it.
PURE_PACKAGES = {
    "actors/catalog",
    "actors/endpoint",
    "actors/escalation",
    "actors/health",
    "actors/performance",
    "actors/quota",
    "actors/router",
}
SHELLS = {
    "actors/catalog/_actor.py",
    "actors/catalog/_client.py",
    "actors/endpoint/_actor.py",
    "actors/endpoint/_aiohttp.py",
    "actors/endpoint/_aiohttp_errors.py",
    "actors/endpoint/_clocks.py",
    "actors/endpoint/_discover.py",
    "actors/endpoint/_handle.py",
    "actors/endpoint/_requests.py",
    "actors/endpoint/_transport.py",
    "actors/endpoint/_watchdog.py",
    "actors/endpoint/_windows.py",
    "actors/escalation/_workflow.py",
    "actors/health/_actor.py",
    "actors/health/_checks.py",
    "actors/performance/_actor.py",
    "actors/quota/_actor.py",
    "actors/quota/_commits.py",
    "actors/router/_actor.py",
    "actors/router/_calls.py",
    "actors/router/_driver.py",
    "actors/router/_fit.py",
    "actors/router/_reserve.py",
    "actors/router/_run.py",
    "actors/router/_view.py",
}


def _is_pure(path: Path) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    if rel in SHELLS:
        return False
    in_pure_package = rel.rsplit("/", 1)[0] in PURE_PACKAGES
    return rel in PURE or path.stem.startswith("_logic") or in_pure_package


def test_pure_modules_do_no_io() -> None:
    pure = [p for pkg in FORBIDDEN for p in package_files(pkg) if _is_pure(p)]
    assert pure, "expected at least one pure module (e.g. events/_replay.py)"
    violations = [
        f"{path.relative_to(ROOT)} imports {bad}"
        for path in pure
        for bad in sorted(imported_modules(path) & IMPURE)
    ]
    assert not violations, "pure modules must not do I/O:\n" + "\n".join(violations)


def test_the_lists_name_files_that_exist() -> None:
    missing = sorted(p for p in PURE | SHELLS if not (ROOT / p).is_file())
    missing += sorted(p for p in PURE_PACKAGES if not (ROOT / p).is_dir())
    assert not missing, f"listed but not in the tree: {missing}"


def test_a_module_named_actor_holds_an_actor() -> None:
    """``_actor.py`` is the name of a module that defines an ``Actor`` subclass."""
    named = sorted((ROOT / "actors").glob("*/_actor.py"))  # the domain packages
    assert named
    for path in named:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bases = {
            ast.unparse(base)
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            for base in node.bases
        }
        assert any(b.startswith("Actor[") for b in bases), f"{path} defines no actor"


def test_scanner_sees_violations(tmp_path: Path) -> None:
    bad = tmp_path / "mod.py"
    bad.write_text("import os\nfrom runtime.x import y\n\ndef f():\n    import actors\n")
    assert imported_modules(bad) == {"os", "runtime", "actors"}
