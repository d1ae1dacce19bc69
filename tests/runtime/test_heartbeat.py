"""The worker's heartbeat file: written atomically, however many threads beat at once."""

from __future__ import annotations

import datetime
import threading

from drop.runtime.heartbeat import FILENAME, read_heartbeat, write_heartbeat


def test_threads_beating_at_once_never_fail_and_leave_one_readable_file(tmp_path):
    moment = datetime.datetime(2026, 1, 2, 3, 4, 5)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def beat():
        start.wait()
        for _ in range(200):
            try:
                write_heartbeat(tmp_path, moment)
            except BaseException as error:  # noqa: BLE001 - collected and asserted below
                errors.append(error)

    threads = [threading.Thread(target=beat) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert read_heartbeat(tmp_path) == moment
    assert [p.name for p in tmp_path.iterdir()] == [FILENAME]  # no temp file left behind


def test_heartbeat_file_is_readable_by_others(tmp_path):
    write_heartbeat(tmp_path, datetime.datetime(2026, 1, 2))
    assert (tmp_path / FILENAME).stat().st_mode & 0o044 == 0o044
