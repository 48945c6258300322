"""/console in a real browser (Debian's headless Chromium, driven by Selenium): the page
shows the numbers the API reports."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterator

import pytest

from tests.conftest import Api

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture
def browser() -> Iterator:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def eventually(check, timeout: float = 15):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError("the page never showed it")
        time.sleep(0.25)


def table(browser, table_id: str) -> list[list[str]]:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def test_the_console_shows_what_the_api_reports(browser, client: Api, new_account) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    number = new_account("1.00")
    failed = client.post(f"/accounts/{number}/withdraw", json={"amount": 50})
    assert failed.status_code == 400
    failed_job = failed.json()["error"]["job_id"]

    browser.get(client.url("/console"))
    if client.secret is not None:  # ATM_AUTH=required: the page asks for a key once
        alert = eventually(lambda: browser.switch_to.alert)
        alert.send_keys(client.secret)
        alert.accept()
    eventually(lambda: browser.find_element(By.ID, "health").text == "healthy")
    reported = client.get("/console/data").json()["data"]
    expected = [
        [str(p["partition"]), p["owner"] or "none", str(p["backlog"])]
        for p in reported["partitions"]
    ]
    eventually(lambda: table(browser, "partitions") == expected)
    assert all(owner != "none" for _, owner, _ in expected)
    failures = eventually(lambda: table(browser, "failures"))
    assert any(row[0] == failed_job and row[4] == "insufficient_funds" for row in failures)
    checks = {row[0]: row[1] for row in table(browser, "checks")}
    assert checks == {"database": "ok", "redis": "ok", "workers": "ok"}

    stop = threading.Event()

    def deposit_steadily() -> None:
        while not stop.is_set():
            client.post(f"/accounts/{number}/deposit", json={"amount": 1})

    worker = threading.Thread(target=deposit_steadily, daemon=True)
    worker.start()
    try:
        eventually(lambda: float(browser.find_element(By.ID, "throughput").text) > 0, 20)
        line = browser.find_element(By.ID, "throughput-line").get_attribute("points")
        assert len(line.split()) >= 1
        assert browser.find_element(By.ID, "lag").text.endswith("ms")
    finally:
        stop.set()
        worker.join(10)
