"""GET /metrics: Prometheus text added up over the web and worker processes, moving with work."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict

from prometheus_client.parser import text_string_to_metric_families

from shared.config.settings import PROJECT_ROOT
from tests.conftest import Api
from web.serving.request_tally import FLUSH_SECONDS


def scrape(client: Api) -> dict[str, list]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    families: dict[str, list] = defaultdict(list)  # a family with no samples yet is absent
    for family in text_string_to_metric_families(response.text):
        families[family.name] = family.samples
    return families


def value(samples: list, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for sample in samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def test_metrics_move_with_requests_and_applied_jobs(client: Api, new_account) -> None:
    number = new_account("10.00")
    before = scrape(client)
    for _ in range(3):
        response = client.post(f"/accounts/{number}/withdraw", json={"amount": 1})
        assert response.status_code == 200
    route = {"method": "POST", "route": "/accounts/<account_number>/withdraw"}
    requests_name = "atm_http_requests_total"

    def counted(families: dict[str, list]) -> float:
        return value(families["atm_http_requests"], requests_name, **route, status="200") - value(
            before["atm_http_requests"], requests_name, **route, status="200"
        )

    # Each web process writes its requests' counts every FLUSH_SECONDS (and before it
    # answers a scrape): the other process's may take that long to show.
    deadline = time.monotonic() + 10 * FLUSH_SECONDS
    while counted(after := scrape(client)) < 3 and time.monotonic() < deadline:
        time.sleep(FLUSH_SECONDS / 5)
    assert counted(after) == 3
    duration = "atm_http_request_duration_seconds_count"
    assert value(after["atm_http_request_duration_seconds"], duration, **route) >= 3
    jobs = "atm_jobs_completed_total"
    done = {"type": "withdraw", "status": "succeeded"}
    assert (
        value(after["atm_jobs_completed"], jobs, **done)
        - value(before["atm_jobs_completed"], jobs, **done)
        >= 3
    )  # other tests' jobs may land meanwhile
    lag = "atm_apply_lag_seconds_count"
    assert (
        value(after["atm_apply_lag_seconds"], lag) - value(before["atm_apply_lag_seconds"], lag)
        >= 3
    )
    buckets = {s.labels["le"] for s in after["atm_apply_lag_seconds"] if s.name.endswith("_bucket")}
    assert {"0.005", "1.0", "+Inf"} <= buckets


def test_the_console_reports_counts_as_whole_numbers(client: Api, new_account) -> None:
    number = new_account("1.00")
    assert client.post(f"/accounts/{number}/deposit", json={"amount": 1}).status_code == 200
    totals = client.get("/console/data").json()["data"]["totals"]
    assert totals["jobs_completed"] >= 1 and totals["apply_lag_count"] >= 1, totals
    assert type(totals["jobs_completed"]) is int and type(totals["apply_lag_count"]) is int
    assert isinstance(totals["apply_lag_sum"], float)


def test_backlog_and_partition_owners_are_read_at_scrape_time(client: Api) -> None:
    families = scrape(client)
    backlog = families["atm_backlog_jobs"]
    assert sorted(sample.labels["partition"] for sample in backlog) == ["0", "1", "2", "3"]
    owners = families["atm_partition_owner"]
    assert sorted(sample.labels["partition"] for sample in owners) == ["0", "1", "2", "3"]
    assert all(sample.value == 1 and ":" in sample.labels["owner"] for sample in owners)


def test_the_grafana_dashboard_names_only_metrics_that_exist(client: Api, new_account) -> None:
    number = new_account("5.00")
    assert client.post(f"/accounts/{number}/withdraw", json={"amount": 1}).status_code == 200
    exposed = {sample.name for samples in scrape(client).values() for sample in samples}
    dashboard = json.loads((PROJECT_ROOT / "deploy/grafana/dashboards/atm.json").read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    named = {name for expr in expressions for name in re.findall(r"\batm_[a-z_]+", expr)}
    assert len(named) >= 6
    assert named <= exposed, named - exposed
