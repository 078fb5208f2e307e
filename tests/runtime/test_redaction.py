"""Secret redaction for log lines: by field name, by value pattern, bodies dropped."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime._redaction import (
    REDACTED,
    is_body_field,
    is_secret_field,
    redact_mapping,
    redact_text,
    redact_value,
)

# Long enough that it cannot be part of "[redacted]" or of the surrounding text by chance.
secrets = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=12
)
filler = st.text(alphabet=" .,;:()\n\t", max_size=5)

CONTEXTS = [
    "Bearer {s}",
    "authorization: bearer {s}",
    "Authorization: Basic {s}",
    "Authorization: {s}",
    "x-api-key: {s}",
    "Cookie: session={s}",
    "sk-{s}",
    "sk-proj-{s}",
    "GET /v1/chat?key={s}",
    "https://host/path?alpha=1&api_key={s}&beta=2",
    "token={s}",
    "password: {s}",
    '{{"api_key": "{s}"}}',
    "{{'access_token': '{s}'}}",
    "https://user:{s}@example.com/v1",
    "postgres://admin:{s}@db:5432/x",
    "https://{s}@github.com/org/repo",
    "ghp_{s}",
]


@pytest.mark.parametrize("template", CONTEXTS)
def test_each_secret_shape_is_masked(template: str) -> None:
    secret = "Zq9xK2mW7pL4vB8n"
    text = template.format(s=secret)
    assert secret not in redact_text(text)
    assert REDACTED in redact_text(text)


@given(secret=secrets, template=st.sampled_from(CONTEXTS), before=filler, after=filler)
def test_a_secret_looking_value_never_survives(
    secret: str, template: str, before: str, after: str
) -> None:
    text = before + template.format(s=secret) + after
    assert secret not in redact_text(text)
    # Wherever it sits in a log line: a field, a nested dict, a list, the rendered JSON.
    line = redact_mapping({"event": "x", "detail": text, "extra": {"items": [text, (text,)]}})
    assert secret not in json.dumps(line)


SECRET_NAMES = ["api_key", "API-Key", "Authorization", "token", "password", "client_secret",
                "openai_api_key", "access_token", "Cookie", "key"]  # fmt: skip


@given(secret=secrets, name=st.sampled_from(SECRET_NAMES))
def test_secret_field_names_are_masked_at_any_depth(secret: str, name: str) -> None:
    line = redact_mapping({"event": "x", name: secret, "nested": {"deeper": {name: secret}}})
    assert line[name] == REDACTED
    assert line["nested"]["deeper"][name] == REDACTED
    assert secret not in json.dumps(line)


def test_redaction_is_idempotent_and_keeps_harmless_text() -> None:
    text = "model llama3 on http://127.0.0.1:11434 answered in 0.5 s; Bearer abc.def"
    once = redact_text(text)
    assert once == "model llama3 on http://127.0.0.1:11434 answered in 0.5 s; Bearer [redacted]"
    assert redact_text(once) == once


def test_ids_that_merely_end_in_key_are_not_secrets() -> None:
    assert not is_secret_field("idempotency_key")
    assert not is_secret_field("prompt_tokens") and not is_secret_field("max_tokens")
    assert is_secret_field("X-Api-Key") and is_secret_field("refresh_token")
    line = redact_mapping({"idempotency_key": "req-1", "prompt_tokens": 12})
    assert line == {"idempotency_key": "req-1", "prompt_tokens": 12}


def test_missing_secrets_stay_visible_as_none() -> None:
    # "no key configured" is useful to see, and not a secret.
    assert redact_mapping({"api_key": None, "token": 0}) == {"api_key": None, "token": REDACTED}


def test_body_fields_are_dropped_unless_opted_in() -> None:
    line = {
        "event": "x",
        "prompt": "my secret plan",
        "messages": [{"role": "user", "content": "hi"}],
        "request": {"completion": "the answer", "model": "llama3"},
        "prompt_chars": 14,
    }
    dropped = redact_mapping(line)
    assert dropped == {"event": "x", "request": {"model": "llama3"}, "prompt_chars": 14}
    kept = redact_mapping({**line, "text": "use Bearer abcdefgh"}, log_bodies=True)
    assert kept["prompt"] == "my secret plan" and kept["messages"] == line["messages"]
    assert kept["text"] == "use Bearer [redacted]"  # bodies are still scanned by value
    assert all(is_body_field(n) for n in ("Prompt", "CONTENT", "code", "body"))


def test_containers_and_bytes_keep_their_shape() -> None:
    value = {"a": ("token=abcdef", 1), "b": {"sk-abcdef"}, "c": b"Bearer xyz123", "d": 2.5}
    clean = redact_value(value)
    assert clean == {
        "a": ("token=[redacted]", 1),
        "b": {"sk-[redacted]"},
        "c": "Bearer [redacted]",
        "d": 2.5,
    }


def test_huge_strings_are_cut_before_scanning() -> None:
    huge = "x" * 200_000 + " Bearer abcdef"
    clean = redact_text(huge)
    assert len(clean) < 70_000 and clean.endswith("[truncated]")
