"""The bearer-key check and the detection of keys in query strings (pure)."""

from __future__ import annotations

import base64

from runtime.serve._auth import basic_matches, bearer_matches, query_secret
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


def _basic(user: bytes, password: bytes) -> bytes:
    return b"Basic " + base64.b64encode(user + b":" + password)


def test_basic_check_takes_the_key_as_password_and_any_user() -> None:
    key = KEY.encode()
    assert basic_matches(_basic(b"", key), key) and basic_matches(_basic(b"ops", key), key)
    assert basic_matches(b"basic " + base64.b64encode(b"a:" + key), key)
    assert not basic_matches(None, key) and not basic_matches(b"Basic", key)
    assert not basic_matches(_basic(b"ops", key[:-1]), key)
    assert not basic_matches(_basic(b"ops", key + b"x"), key)
    assert not basic_matches(b"Basic " + base64.b64encode(key), key)  # no colon
    assert not basic_matches(b"Basic !!not-base64!!", key)
    assert not basic_matches(b"Bearer " + key, key)
