"""Where prometheus-client keeps samples when several processes serve one drop.

Every gunicorn worker and the Huey worker write their samples to files in one shared
directory, and /metrics adds them up. prometheus-client decides how to store samples
when it is first imported, so this module must not import it at the top: the directory
is prepared first (gunicorn.conf.py, `drop-ops serve`, `drop-ops worker`).
"""

from __future__ import annotations

import os
from pathlib import Path

from drop.config import Config

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_metrics_dir(config: Config) -> Path:
    """Point prometheus-client at the shared directory and clear what dead processes left.

    PROMETHEUS_MULTIPROC_DIR wins when set; otherwise DROP_DATA_DIR/metrics. Files of
    processes still running (the worker, when the web server restarts) are kept.
    """
    path = Path(os.environ.get(ENV) or config.data_dir / "metrics").resolve()
    path.mkdir(parents=True, exist_ok=True)
    os.environ[ENV] = str(path)
    for file in path.glob("*.db"):
        pid = _pid_of(file)
        if pid is not None and not _running(pid):
            file.unlink(missing_ok=True)
    return path


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges must stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)


def _pid_of(file: Path) -> int | None:
    # prometheus-client names its files <type>[_<mode>]_<pid>.db
    tail = file.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
