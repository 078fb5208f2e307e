"""``ServeSettings``: where the facade may listen and which limits are valid."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.serve import ServeSettings, ServeSettingsError
from runtime.serve._settings import is_loopback
from tests.runtime.serve._support import KEY


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com"])
def test_a_non_loopback_host_without_a_key_is_refused(host: str) -> None:
    with pytest.raises(ServeSettingsError, match=f"refusing to listen on {host} without"):
        ServeSettings(host=host)
    assert ServeSettings(host=host, api_key=KEY).host == host  # a key makes it allowed


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_hosts_need_no_key(host: str) -> None:
    assert ServeSettings(host=host).api_key is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_key": "short"}, "too short"),
        ({"api_key": "has space 0123456789"}, "printable ASCII"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"max_tokens_cap": -1}, "max_tokens_cap"),
        ({"port": 70000}, "port"),
        ({"request_timeout": float("nan")}, "request_timeout"),
        ({"ui_keep_s": 0.0}, "ui_keep_s must be a number of seconds > 0"),
        ({"ui_keep_s": float("inf")}, "ui_keep_s"),
        ({"ui_keep_s": True}, "ui_keep_s"),
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ServeSettingsError, match=message):
        ServeSettings(**options)


def test_the_web_view_keeps_a_day_by_default() -> None:
    assert ServeSettings().ui_keep_s == 86400.0
    assert "ui_keep_s=86400.0" in repr(ServeSettings())


def test_settings_never_show_the_key() -> None:
    settings = ServeSettings(api_key=KEY)
    assert KEY not in repr(settings) and KEY not in str(settings) and "[redacted]" in repr(settings)


def test_is_loopback_only_for_this_machine() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("[::1]") and is_loopback("LOCALHOST")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert not is_loopback("localhost.example.com")


def test_url_brackets_ipv6() -> None:
    assert ServeSettings(host="::1", port=9).url == "http://[::1]:9"
