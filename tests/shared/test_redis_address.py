"""REDIS_URL through Redis Sentinel: what a redis+sentinel:// URL names, and Celery's broker."""

from __future__ import annotations

import pytest

from shared.config.settings import SettingsError, load_settings
from shared.redis_address import SentinelAddress, celery_broker, sentinel_address


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
    assert options == {"master_name": "atm"}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel:///atm", "at least one sentinel"),
        ("redis+sentinel://h:1", "master's name"),
        ("redis+sentinel://h:1/atm/0/more", "master's name"),
        ("redis+sentinel://:hunter2@h:port/atm", "host:port"),
        ("redis+sentinel://h:1/atm/zero", "is a number"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_at_start_saying_why(url: str, says: str) -> None:
    with pytest.raises(SettingsError, match="REDIS_URL") as refused:
        load_settings({"REDIS_URL": url})
    assert says in str(refused.value)
    assert "hunter2" not in str(refused.value)  # the password is never repeated
