"""The batch submitter's progress record on disk: written whole, and the rename kept."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from web.cli.batch.progress import Sent, load_record, new_record


def test_saving_the_record_syncs_its_directory_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        kind = "directory" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file"
        events.append(f"fsync {kind}")
        real_fsync(descriptor)

    def replace(source: str, target: str) -> None:
        events.append("rename")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    path = tmp_path / "ops.csv.progress.json"
    record = new_record(path, "0" * 64, "http://127.0.0.1:5000", again=False)
    record.sending(Sent(1, 2, 2, "atm-batch-file-x", 1_700_000_000.0))
    assert events == ["fsync file", "rename", "fsync directory"]
    found = load_record(path)
    assert found is not None and found.lines_in_doubt() == {1, 2}
