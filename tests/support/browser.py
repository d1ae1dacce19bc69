"""Helpers for the browser tests: headless Chromium, a relay that can hold or cut an upload,
dropping a file on the page, and screenshots at desktop and phone widths."""

from __future__ import annotations

import contextlib
import secrets
import socket
import threading
from pathlib import Path

from tests.support.common import ROOT
from tests.support.tcp_listener import ThreadedListener, reset

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FIXTURE_PATH = "/__test-fixture__/"


def launch_chromium(playwright):
    """Debian's Chromium: Playwright cannot download its own browser here."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def screenshot(page, name: str) -> list[Path]:
    """`name`-desktop.png and `name`-phone.png of the whole page as it is now."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    paths = []
    for width_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        path = SCREENSHOTS / f"{name}-{width_name}.png"
        page.screenshot(path=str(path), full_page=True)
        paths.append(path)
    page.set_viewport_size(original)
    return paths


def serve_fixture(page, content: bytes) -> str:
    """Make `content` fetchable by the page without touching the server (Playwright answers)."""
    path = FIXTURE_PATH + secrets.token_hex(8)
    page.route(
        f"**{path}",
        lambda route: route.fulfill(
            status=200, body=content, headers={"Content-Type": "application/octet-stream"}
        ),
    )
    return path


def drop_file(page, selector: str, name: str, content: bytes) -> None:
    """Drag-and-drop a file onto `selector`, as a person dragging it from their desktop would."""
    path = serve_fixture(page, content)
    page.evaluate(
        """async ([selector, path, name]) => {
            const response = await fetch(path);
            if (!response.ok) throw new Error("the test fixture was not served");
            const blob = await response.blob();
            const transfer = new DataTransfer();
            transfer.items.add(new File([blob], name, {type: "application/octet-stream"}));
            const zone = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type, {
                    dataTransfer: transfer, bubbles: true, cancelable: true,
                }));
            }
        }""",
        [selector, path, name],
    )


class Valve(ThreadedListener):
    """A TCP relay in front of a server that can stop passing a client's bytes.

    `hold_uploads(after)` lets each connection send `after` bytes, then holds it until
    `release()`: a test can look at an upload mid-way without racing it. `cut()` resets
    every connection and every later one, as a network failure does (a browser retries a
    request once on a new connection when a kept-alive one is reset).
    """

    def __init__(self, target_port: int):
        # Small buffers keep the bytes the browser counts as sent close to what got through.
        super().__init__(receive_buffer=16 * 1024)
        self._target = ("127.0.0.1", target_port)
        self._flowing = threading.Event()
        self._flowing.set()
        self._down = False
        self.holding = threading.Event()
        self._hold_after = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.start()

    def hold_uploads(self, after_bytes: int) -> None:
        self._hold_after = after_bytes
        self.holding.clear()
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        self._down = True
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            reset(sock)
        self._flowing.set()

    def restore(self) -> None:
        """The network is back: new connections pass again (the cut ones stay broken)."""
        self._hold_after = 0
        self._down = False

    def close(self) -> None:
        self.cut()
        super().close()

    def serve(self, client: socket.socket) -> None:
        if self._down:
            reset(client)
            return
        server = socket.create_connection(self._target)
        with self._lock:
            self._sockets += [client, server]
        threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()
        self._pump(client, server, True)

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool):
        passed = 0
        try:
            while chunk := source.recv(16 * 1024):
                passed += len(chunk)
                if upstream and passed > self._hold_after and not self._flowing.is_set():
                    self.holding.set()
                    self._flowing.wait()
                sink.sendall(chunk)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()
