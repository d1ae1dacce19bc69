"""A tuspy client in a process of its own, for the tests that kill it mid-upload.

    python -m tests.support.tus_client <creation URL> <file> <chunk bytes>

Prints `url <upload URL>` once created, then `offset <n>` after each chunk.
"""

from __future__ import annotations

import sys

from tusclient.client import TusClient


def main() -> None:
    endpoint, path, chunk_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    uploader = TusClient(endpoint).uploader(
        path, chunk_size=chunk_size, metadata={"filename": "big.bin", "filetype": "video/mp4"}
    )
    uploader.set_url(uploader.create_url())
    print("url", uploader.url, flush=True)
    while uploader.offset < uploader.stop_at:
        uploader.upload_chunk()
        print("offset", uploader.offset, flush=True)


if __name__ == "__main__":
    main()
