"""Request metrics are tallied in memory and reach the shared metric values when flushed."""

from __future__ import annotations

from shared.metrics import HTTP_DURATION, HTTP_REQUESTS
from web.serving.request_tally import RequestTally


def test_counts_and_durations_reach_the_metrics_when_flushed() -> None:
    labels = ("GET", "/tally-probe", "200")
    counter = HTTP_REQUESTS.labels(*labels)
    histogram = HTTP_DURATION.labels("GET", "/tally-probe")
    counted, summed = counter._value.get(), histogram._sum.get()
    tally = RequestTally(flush_seconds=3600)  # flushed by this test only
    for seconds in (0.002, 0.003, 0.2):
        tally.add(*labels, seconds)
    tally.add(*labels, None)  # no timer started: counted, not timed
    assert counter._value.get() == counted  # nothing written yet
    tally.flush()
    assert counter._value.get() == counted + 4
    assert abs(histogram._sum.get() - summed - 0.205) < 1e-9
    le_5ms = HTTP_DURATION._upper_bounds.index(0.005)
    assert sum(bucket.get() for bucket in histogram._buckets[: le_5ms + 1]) >= 2
    tally.flush()  # nothing new: nothing added twice
    assert counter._value.get() == counted + 4
