"""``python -m runtime.admin``: see ``runtime.admin``."""

from __future__ import annotations

import sys

from runtime.admin._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
