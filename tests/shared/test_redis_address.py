"""REDIS_URL through Redis Sentinel: what a redis+sentinel:// URL names, and Celery's broker."""

from __future__ import annotations

import pytest

from shared.config.settings import SettingsError, load_settings
from shared.redis_address import (
    SENTINEL_TIMEOUTS,
    SentinelAddress,
    celery_broker,
    sentinel_address,
)


def test_a_plain_url_is_one_server() -> None:
    assert sentinel_address("redis://127.0.0.1:6379/0") is None
    assert celery_broker("redis://127.0.0.1:6379/2") == ("redis://127.0.0.1:6379/2", {})


def test_the_sentinels_the_master_and_the_db() -> None:
    url = "redis+sentinel://:p%40ss@10.0.0.1:26380,sentinel-b,[::1]:26381/ledger/2"
    assert sentinel_address(url) == SentinelAddress(
        sentinels=(("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 26381)),
        master="ledger",
        db=2,
        password="p@ss",
    )
    assert sentinel_address("redis+sentinel://h:1/atm") == SentinelAddress((("h", 1),), "atm")


def test_celery_gets_kombus_sentinel_urls_and_the_masters_name() -> None:
    broker, options = celery_broker("redis+sentinel://u:p%3Bw@a:1,[::1]:2/atm/3")
    assert broker == "sentinel://u:p%3Bw@a:1/3;sentinel://u:p%3Bw@[::1]:2/3"
    # The sentinels are reached with short timeouts: kombu's default is none at all.
    assert options == {"master_name": "atm", "sentinel_kwargs": SENTINEL_TIMEOUTS}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel:///atm", "at least one sentinel"),
        ("redis+sentinel://h:1", "master's name"),
        ("redis+sentinel://h:1/atm/0/more", "master's name"),
        ("redis+sentinel://:hunter2@h:port/atm", "host:port"),
        ("redis+sentinel://h:70000/atm", "from 1 to 65535"),
        ("redis+sentinel://[::1:26379/atm", "IPv6"),
        ("redis+sentinel://h:1/atm/zero", "is a number"),
        ("redis+sentinel://h:1/atm/0?ssl=true", "no ?options"),
        ("redis+sentinel://admin@h:1/atm", "needs its password"),
        # A password with an unencoded # / or ? ends the URL's parts early: still refused
        # without repeating any of it.
        ("redis+sentinel://:hunter2#x@h:1/atm", "percent-encode"),
        ("redis+sentinel://:hun/ter2@h:1/atm", "percent-encode"),
        ("redis+sentinel://user:hunter2@h:1/atm/x-hunter2", "percent-encode"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_at_start_saying_why(url: str, says: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL") as refused:
        load_settings({"REDIS_URL": url})
    assert says in str(refused.value)
    for fragment in ("hunter2", "hun", "ter2"):  # no part of the password is repeated
        assert fragment not in str(refused.value)
