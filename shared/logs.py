"""Logs as one JSON object per line, in web and worker alike (python-json-logger).

Extra fields given to a log call (`extra={"job_id": ...}`) become keys of the object, so
a request's id can be followed from the web process into the worker that applied its job.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
RENAMED = {"asctime": "time", "levelname": "level", "name": "logger"}


def json_formatter() -> JsonFormatter:
    return JsonFormatter(FIELDS, rename_fields=RENAMED)


def use_json_logs() -> None:
    """Log to stderr as JSON from the start of a process, Python warnings included."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter())
    logging.getLogger().addHandler(handler)
    logging.captureWarnings(True)


def format_as_json(logger: logging.Logger) -> None:
    """Give every handler of `logger` the JSON formatter."""
    for handler in logger.handlers:
        handler.setFormatter(json_formatter())
