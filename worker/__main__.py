"""Start one partition worker process: `python -m worker` (what the Procfile and compose run)."""

from __future__ import annotations

from shared.logs import use_json_logs
from worker.app import CONTROL_QUEUE, run_worker


def main() -> None:
    # JSON from the first line: Celery keeps a root handler it finds.
    use_json_logs()
    run_worker(CONTROL_QUEUE, "worker")


if __name__ == "__main__":
    main()
