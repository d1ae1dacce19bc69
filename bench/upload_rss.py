"""How much does one upload grow the serving worker's peak memory?

Starts real gunicorn (one sync worker) on 127.0.0.1 with a scratch data dir, warms the
worker up with a small upload and download (so imports, the database connection and
scrypt's working memory are already counted), then uploads one file of --mib MiB and reads
the worker's peak RSS (VmHWM in /proc) before and after.

    .venv/bin/python bench/upload_rss.py            # 16 MiB, human-readable
    .venv/bin/python bench/upload_rss.py --json     # for scripts and the test suite
    .venv/bin/python bench/upload_rss.py --then-mib 256   # then 256 MiB in the same worker

Linux only (reads /proc). The figure is the growth of the worker's high-water mark; the
file's size is printed beside it, so the ratio is read from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_pid(master: int) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


def wait_until_serving(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing answered at {url}")


def measure(size_mib: int, password: str | None = "benchmark", then_mib: int = 0) -> dict:
    """The growth from one upload of `size_mib`, and then (optionally) from a second
    upload of `then_mib` in the same worker, both counted from before the first."""
    size = size_mib * 1024 * 1024
    limit = max(size_mib, then_mib) * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="drop-rss-") as data_dir:
        env = dict(os.environ, DROP_DATA_DIR=data_dir, DROP_MAX_UPLOAD_BYTES=str(limit))
        env.pop("DROP_DATABASE_URL", None)
        env.pop("DROP_REDIS_URL", None)
        subprocess.run(
            [sys.executable, "-m", "drop.cli", "migrate"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1.0/file"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "ops/gunicorn.conf.py",
                "--workers",
                "1",
                "--bind",
                f"127.0.0.1:{port}",
                "drop.wsgi:app",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_serving(base)
            pid = worker_pid(server.pid)
            fields = {"password": password} if password else {}
            warm = requests.put(base, files={"file": ("w.bin", b"w" * 1024)}, data=fields).json()
            requests.get(warm["url"], headers={"X-Drop-Password": password or ""})
            before = peak_rss_kib(pid)
            payload = os.urandom(size)
            made = requests.put(base, files={"file": ("big.bin", payload)}, data=fields)
            made.raise_for_status()
            after = peak_rss_kib(pid)
            got = requests.get(made.json()["url"], headers={"X-Drop-Password": password or ""})
            assert got.content == payload, "downloaded bytes differ"
            after_download = peak_rss_kib(pid)
            del payload, got
            after_second = None
            if then_mib:
                second = os.urandom(then_mib * 1024 * 1024)
                made = requests.put(base, files={"file": ("second.bin", second)}, data=fields)
                made.raise_for_status()
                after_second = peak_rss_kib(pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "file_bytes": size,
        "peak_rss_before_kib": before,
        "peak_rss_after_upload_kib": after,
        "peak_rss_after_download_kib": after_download,
        "upload_growth_kib": after - before,
        "download_growth_kib": after_download - after,
        "growth_to_file_ratio": round((after - before) * 1024 / size, 4),
        **(
            {
                "second_file_bytes": then_mib * 1024 * 1024,
                "growth_after_second_upload_kib": after_second - before,
            }
            if then_mib
            else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=16, help="file size in MiB (default 16)")
    parser.add_argument("--no-password", action="store_true", help="upload without a password")
    parser.add_argument(
        "--then-mib", type=int, default=0, help="then upload a second file this large"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    password = None if args.no_password else "benchmark"
    result = measure(args.mib, password=password, then_mib=args.then_mib)
    if args.json:
        print(json.dumps(result))
        return
    print(f"file uploaded:               {result['file_bytes'] / 1048576:.1f} MiB")
    print(f"worker peak RSS before:      {result['peak_rss_before_kib'] / 1024:.1f} MiB")
    print(f"worker peak RSS after:       {result['peak_rss_after_upload_kib'] / 1024:.1f} MiB")
    print(
        f"growth from the upload:      {result['upload_growth_kib'] / 1024:.2f} MiB "
        f"({result['growth_to_file_ratio']:.1%} of the file)"
    )
    print(f"growth from the download:    {result['download_growth_kib'] / 1024:.2f} MiB")
    if args.then_mib:
        print(
            f"growth after a {args.then_mib} MiB upload: "
            f"{result['growth_after_second_upload_kib'] / 1024:.2f} MiB (from the same start)"
        )


if __name__ == "__main__":
    main()
