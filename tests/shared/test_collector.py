"""The garbage collector's settings of the web and worker processes."""

from __future__ import annotations

import json
import subprocess
import sys

from shared.collector import YOUNG_THRESHOLD


def test_settling_freezes_start_up_objects_and_raises_the_young_threshold() -> None:
    # In a process of its own: the settings are the whole process's.
    script = (
        "import gc, json; from shared.collector import settle_after_start; "
        "before = gc.get_threshold(); settle_after_start(); "
        "print(json.dumps([gc.get_freeze_count(), gc.get_threshold(), before]))"
    )
    output = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    frozen, after, before = json.loads(output)
    assert frozen > 0
    assert after == [YOUNG_THRESHOLD, *before[1:]]
    assert before[0] < YOUNG_THRESHOLD
