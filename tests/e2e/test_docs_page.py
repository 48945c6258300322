"""/docs: the interactive documentation of /openapi.json, served with its own assets."""

from __future__ import annotations

import re

from tests.conftest import Api


def test_docs_page_points_at_the_openapi_document_and_loads_nothing_from_outside(
    client: Api,
) -> None:
    redirect = client.get("/docs", allow_redirects=False)
    assert redirect.status_code in (301, 308)
    page = client.get("/docs/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert '"url": "/openapi.json"' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(asset.startswith("/docs/") for asset in assets), assets
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset


def test_an_unknown_docs_asset_is_the_404_envelope(client: Api) -> None:
    response = client.get("/docs/no-such-file.js")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"
