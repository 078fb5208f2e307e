"""Refuse to run on an ``events`` package that is not ours, with a clear one-line error.

A PyPI distribution named ``Events`` installs a top-level ``events`` package too; pip
lets it overwrite ours, and ``import actors`` would then fail deep inside with an
unrelated "cannot import name" error. Imported first by ``actors/__init__.py``, this
module checks the marker our ``events`` carries and names the intruder instead.
``runtime/_provenance.py`` holds the same check for ``runtime`` (it cannot import this
one: ``actors`` itself may be the intruder).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import re
from types import ModuleType

DISTRIBUTION = "llm-reliability-runtime"
"""Our distribution's name (pyproject.toml); each package's ``_DISTRIBUTION`` says it."""


def foreign_package_error(name: str, module: ModuleType) -> ImportError:
    """The one-line error for a package ``name`` that is not ours.

    Only called when the check failed, so the slow metadata scan costs nothing otherwise.
    """
    where = getattr(module, "__file__", None) or repr(module)
    ours = _normalize(DISTRIBUTION)
    owners = sorted(
        {
            dist
            for dist in importlib.metadata.packages_distributions().get(name, [])
            if _normalize(dist) != ours
        }
    )
    if owners:
        found = f"belongs to the distribution {', '.join(repr(d) for d in owners)}"
        fix = f"run `pip uninstall {' '.join(owners)}`, then"
    else:
        found = "belongs to no installed distribution"
        fix = "remove it from sys.path/PYTHONPATH, then run"
    return ImportError(
        f"the {name!r} package imported from {where} {found}, not to {DISTRIBUTION} "
        f"(both provide a top-level {name!r} package): {fix} "
        f"`pip install --force-reinstall {DISTRIBUTION}`, or use a separate virtualenv",
        name=name,
        path=where,
    )


def ensure_ours(name: str) -> None:
    """Import package ``name`` and raise ``foreign_package_error`` unless it is ours."""
    module = importlib.import_module(name)
    if getattr(module, "_DISTRIBUTION", None) != DISTRIBUTION:
        raise foreign_package_error(name, module)


def _normalize(distribution: str) -> str:
    """PEP 503 normalized form, so ``LLM_Reliability.Runtime`` matches too."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


ensure_ours("events")
