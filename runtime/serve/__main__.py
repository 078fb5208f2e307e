"""``python -m runtime.serve --config FILE``: see ``runtime.serve``."""

from __future__ import annotations

import sys

from runtime.serve._cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
