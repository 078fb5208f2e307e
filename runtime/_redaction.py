"""Secret redaction for log lines (pure): by field name, by value pattern and by the
exact value of every secret registered at load (``register_secret``).

The masking core is ``events._redaction`` (``events.LogLine`` needs it and ``events``
imports nothing of ours); this module is its name in the ``runtime`` package, where
``runtime._logging``, ``runtime.inspect`` and the HTTP facade use it.
"""

from __future__ import annotations

from events._redaction import (
    BODY_FIELDS,
    REDACTED,
    SECRET_FIELDS,
    is_body_field,
    is_secret_field,
    redact_mapping,
    redact_text,
    redact_value,
)
from events._secrets import MIN_SECRET_CHARS, register_secret

__all__ = [
    "BODY_FIELDS",
    "MIN_SECRET_CHARS",
    "REDACTED",
    "SECRET_FIELDS",
    "is_body_field",
    "is_secret_field",
    "redact_mapping",
    "redact_text",
    "redact_value",
    "register_secret",
]
