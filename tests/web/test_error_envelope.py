"""The error handlers in-process: an unexpected exception is a 500 envelope with no traceback."""

from __future__ import annotations

from pathlib import Path

from shared.config.settings import load_settings
from web import create_app


def test_unexpected_error_is_internal_error_without_a_stack_trace(tmp_path: Path) -> None:
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'atm.db'}"})
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_json()
    assert body["success"] is False and body["code"] == 500
    assert body["error"]["type"] == "internal_error"
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
