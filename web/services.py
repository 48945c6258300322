"""The long-lived objects one web process uses, kept on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import Flask, current_app

from shared import messaging
from shared.db import Database
from shared.settings import Settings
from web.dispatch import PartitionDispatcher
from web.intake import JobIntake
from web.pressure import Backpressure
from web.waiting import CompletionListener

EXTENSION_KEY = "atm"


@dataclass
class Services:
    settings: Settings
    database: Database
    redis: redis.Redis
    listener: CompletionListener
    intake: JobIntake
    backpressure: Backpressure


def init_services(app: Flask, settings: Settings) -> Services:
    database = Database(settings)  # connects on first use; tables come from init_database
    client = messaging.connect(settings.redis_url)
    dispatcher = PartitionDispatcher(settings, client)
    services = Services(
        settings=settings,
        database=database,
        redis=client,
        listener=CompletionListener(settings.redis_url),
        intake=JobIntake(
            database, settings.partitions, dispatcher, settings.idempotency_ttl_seconds
        ),
        backpressure=Backpressure(settings, database, client),
    )
    app.extensions[EXTENSION_KEY] = services
    return services


def current_services() -> Services:
    return current_app.extensions[EXTENSION_KEY]
