"""Entry point: ``python -m runtime.inspect LOG COMMAND [options]``."""

from __future__ import annotations

from runtime.inspect import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
