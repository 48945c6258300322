"""Start one partition worker process: `python -m worker` (what the Procfile and compose run)."""

from __future__ import annotations

import os
import socket
import sys

from shared.logs import use_json_logs
from worker.app import CONTROL_QUEUE, celery_app


def main() -> None:
    # The solo pool applies work on the consumer's own thread: one process, one applier.
    # The node name carries the pid, so several workers on one host stay distinguishable.
    # JSON from the first line (Celery keeps a root handler it finds), and --quiet: no
    # start-up banner, so that every line the worker writes is a JSON log line.
    use_json_logs()
    celery_app.worker_main(
        [
            "--quiet",
            "worker",
            "--pool=solo",
            f"--queues={CONTROL_QUEUE}",
            f"--hostname=worker-{os.getpid()}@{socket.gethostname()}",
            "--without-gossip",
            "--without-mingle",
            f"--loglevel={os.environ.get('ATM_LOG_LEVEL', 'INFO')}",
            *sys.argv[1:],
        ]
    )


if __name__ == "__main__":
    main()
