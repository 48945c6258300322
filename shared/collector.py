"""The garbage collector's settings for the long-running processes (web and worker)."""

from __future__ import annotations

import gc

# A young-generation collection runs when the objects allocated and not yet freed since
# the last one pass this count. CPython's default, 700, is passed many times over within
# one batch request or apply transaction (each holds tens of thousands of lists and tuples
# at once), so those objects were scanned again and again and promoted into the older
# generations, whose full collections then walked every object in the process: about a
# quarter of bench/apply_in_process.py's time at chunks of 8,000. Objects freed by
# reference counting, nearly all of them, never count towards it, so a higher threshold
# only lets cyclic garbage wait a little longer.
YOUNG_THRESHOLD = 50_000


def settle_after_start() -> None:
    """Freeze what start-up built (modules, classes, the frameworks' objects) out of every
    later collection, once its garbage is collected (a frozen object is never freed), and
    collect the young generation only past YOUNG_THRESHOLD."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
