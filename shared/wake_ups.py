"""A worker's wake-up: the Celery message the doorbell script pushes on its owner's queue.

The message is pushed by the doorbell script itself (shared.messaging.ring_doorbells), in
the same Redis round trip that sets the flag, instead of a script and then a Celery send:
one hop and about 0.6 ms of Celery's per-message Python less for a request that waits. It
is the message Celery's own `send_task` would push on the Redis transport, encoded once
from Celery's task protocol (`as_task_v2`); only its ids are new each time. It names no
partition (the worker drains every partition it holds), and the queue it goes to is the
owner's (read from the lease in the script), so its routing key names the owners' queues
in general. A test compares it with what `send_task` pushes, so a change in either
library shows.
"""

from __future__ import annotations

import base64
import json
import uuid

from celery import Celery

from shared.partitioning import DRAIN_TASK, OWNER_QUEUE_PREFIX

# Stand-ins for the ids in an encoded message, replaced by fresh ones at every send: each
# message needs its own task id and delivery tag (a worker tracks both by value).
_TASK_ID = "00000000-0000-4000-8000-00000000a7a5"
_DELIVERY_TAG = "00000000-0000-4000-8000-0000000d7a95"
ROUTING_KEY = OWNER_QUEUE_PREFIX.rstrip(".")


class WakeUpMessages:
    """A worker's wake-up, as kombu's Redis transport stores a message: encoded once, with
    fresh ids at each call."""

    def __init__(self) -> None:
        self.celery = Celery("atm-wake-ups", set_as_current=False)
        self.template = self._encode()

    def message(self) -> str:
        return self.template.replace(_TASK_ID, str(uuid.uuid4())).replace(
            _DELIVERY_TAG, str(uuid.uuid4())
        )

    def _encode(self) -> str:
        task = self.celery.amqp.as_task_v2(
            _TASK_ID, DRAIN_TASK, args=[], ignore_result=None
        )  # as send_task leaves it: the task's own setting decides
        body = json.dumps(task.body).encode()
        return json.dumps(
            {
                "body": base64.b64encode(body).decode(),
                "content-encoding": "utf-8",
                "content-type": "application/json",
                "headers": task.headers,
                "properties": {
                    **task.properties,
                    "delivery_mode": 2,
                    "delivery_info": {"exchange": "", "routing_key": ROUTING_KEY},
                    "priority": 0,
                    "body_encoding": "base64",
                    "delivery_tag": _DELIVERY_TAG,
                },
            }
        )
