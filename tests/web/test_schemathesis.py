"""schemathesis against live gunicorn, on both backends: every answer is one the OpenAPI
document promises, none is a 5xx, and the server logs no traceback."""

import re
import subprocess

from tests.support.common import ROOT, VENV_BIN, LiveServer

SETTINGS = ROOT / "tests" / "schemathesis.toml"  # seed, examples per operation, checks
MIN_REQUESTS = 1000
# gunicorn's access log has one line per request: ... "GET /path HTTP/1.1" 404 ...
ACCESS_LINE = re.compile(r' HTTP/1\.[01]" \d{3} ')
# Fuzzing uploads hundreds of files from one address into a small temp directory: no
# upload limit or free-space floor may turn its answers into a wall of 429s and 507s.
GENEROUS_LIMITS = {
    "DROP_UPLOADS_PER_HOUR": 0,
    "DROP_UPLOAD_BYTES_PER_HOUR": 0,
    "DROP_MIN_FREE_BYTES": 0,
}


def test_schemathesis_finds_no_failure_against_live_gunicorn(config):
    with LiveServer(config, **GENEROUS_LIMITS) as server:
        run = subprocess.run(
            [
                VENV_BIN / "schemathesis",
                "--config-file",
                SETTINGS,
                "run",
                "--no-color",
                server.url + "/api/v1.0/openapi.json",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    log = server.log.read_text(errors="replace")
    assert run.returncode == 0, run.stdout[-30000:] + run.stderr
    first = log.find("Traceback")
    assert first == -1, log[max(0, first - 2000) : first + 8000]
    served = len(ACCESS_LINE.findall(log))
    assert served >= MIN_REQUESTS, f"schemathesis sent only {served} requests"
