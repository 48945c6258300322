"""Subscribing to webhooks on the shared stacks (private addresses not allowed there)."""

from __future__ import annotations

import pytest

from tests.conftest import Api

# A public address written as a literal, so that no name needs resolving offline.
PUBLIC_URL = "http://93.184.216.34/hooks/atm"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[64:ff9b::7f00:1]/",  # NAT64: 127.0.0.1 to the gateway
        "http://[64:ff9b::a00:1]/hook",  # 10.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",  # 169.254.169.254
        "http://[64:ff9b:1::7f00:1]/hook",  # the local-use NAT64 prefix
        "http://[::127.0.0.1]/hook",  # IPv4-compatible
        "http://[2002:7f00:1::1]/hook",  # 6to4
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # Teredo, client 127.0.0.1
        "http://[fd00::1]/hook",
        "http://224.0.0.1/hook",
        "ftp://93.184.216.34/hook",
        "file:///etc/passwd",
        "http:///no-host",
        "http://user:pass@93.184.216.34/hook",
        "http://93.184.216.34:99999/hook",
        "http://93.184.216.34/hook#fragment",
        "http://no-such-host.invalid/hook",
        "not a url",
        "",
        42,
        None,
    ],
)
def test_urls_that_are_not_public_http_are_refused(client: Api, url: object) -> None:
    response = client.post("/webhooks", json={"url": url, "events": ["job.succeeded"]})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_webhook_url"


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC_URL},
        {"url": PUBLIC_URL, "events": []},
        {"url": PUBLIC_URL, "events": ["job.exploded"]},
        {"url": PUBLIC_URL, "events": "job.succeeded"},
        {"url": PUBLIC_URL, "events": ["job.failed"], "secret": "short"},
        {"url": PUBLIC_URL, "events": ["job.failed"], "secret": 12345678901234567890},
    ],
)
def test_bad_events_or_secrets_are_refused(client: Api, body: dict) -> None:
    response = client.post("/webhooks", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_parameter"


def test_a_public_url_is_subscribed_listed_and_deleted(client: Api) -> None:
    response = client.post(
        "/webhooks", json={"url": PUBLIC_URL, "events": ["hold.expired", "job.failed"]}
    )
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert set(created) == {"webhook_id", "url", "events", "secret", "created_at"}
    assert created["events"] == ["job.failed", "hold.expired"]  # in the contract's order
    assert response.headers["Location"] == f"/webhooks/{created['webhook_id']}"
    listed = client.get("/webhooks").json()["data"]["webhooks"]
    [mine] = [w for w in listed if w["webhook_id"] == created["webhook_id"]]
    assert mine == {k: v for k, v in created.items() if k != "secret"}
    # Nothing receives on that address: whatever event came up is still pending.
    deliveries = client.get(f"/webhooks/{created['webhook_id']}/deliveries").json()["data"]
    assert all(d["status"] == "pending" for d in deliveries["deliveries"])
    deleted = client.http.delete(client.url(f"/webhooks/{created['webhook_id']}"), timeout=10)
    assert deleted.status_code == 200


def test_unknown_webhooks_are_404(client: Api) -> None:
    for response in (
        client.http.delete(client.url("/webhooks/no-such-webhook"), timeout=10),
        client.get("/webhooks/no-such-webhook/deliveries"),
        client.get(f"/webhooks/{'x' * 300}/deliveries"),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["type"] == "webhook_not_found"
