"""Secret redaction for log lines (pure): by field name and by value pattern.

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

__all__ = [
    "BODY_FIELDS",
    "REDACTED",
    "SECRET_FIELDS",
    "is_body_field",
    "is_secret_field",
    "redact_mapping",
    "redact_text",
    "redact_value",
]
