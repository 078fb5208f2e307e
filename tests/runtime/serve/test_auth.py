"""The bearer-key check and the detection of keys in query strings (pure)."""

from __future__ import annotations

from runtime.serve._auth import bearer_matches, query_secret
from tests.runtime.serve._support import KEY


def test_bearer_check_is_exact() -> None:
    key = KEY.encode()
    assert bearer_matches(b"Bearer " + key, key) and bearer_matches(b"bearer  " + key, key)
    assert not bearer_matches(None, key) and not bearer_matches(b"Bearer", key)
    assert not bearer_matches(b"Bearer " + key[:-1], key)
    assert not bearer_matches(b"Token " + key, key)
    assert query_secret(["model", "Api-Key"]) == "Api-Key" and query_secret(["kind"]) is None


def test_query_secret_names_the_first_credential_looking_parameter() -> None:
    assert query_secret(["kind", "agent_type"]) is None
    assert query_secret(["kind", "access-token", "key"]) == "access-token"
