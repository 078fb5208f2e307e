"""Refuse to run on ``events``/``actors`` packages that are not ours: one clear line.

A PyPI distribution named ``Events`` installs a top-level ``events`` package too; pip
lets it overwrite ours, and ``import runtime`` would then fail deep inside with an
unrelated "cannot import name" error. Imported first by ``runtime/__init__.py``, this
module checks the marker each of our packages carries and names the intruder instead.
It repeats ``actors/_provenance.py`` on purpose: it cannot import that module, since
``actors`` itself may be the intruder.
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
ensure_ours("actors")
