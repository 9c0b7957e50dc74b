"""A headless Chromium driven over the DevTools protocol, for previews and checks.

Why the raw protocol over one websocket (the ``websockets`` package, pure Python with no
dependencies) rather than Playwright or Selenium: we need five commands (open a page, set
the viewport, emulate ``prefers-color-scheme``, evaluate a script, take a screenshot) with
Debian's ``chromium``; Playwright brings a ~40 MB Node driver pinned to its own browser
builds and Selenium needs chromedriver. The browser is started with a fresh profile and
every background service off (PITFALLS.md), and killed when the ``with`` block ends.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import NewsletterError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root in CI; the page is our own local file
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",  # scrollbars would eat into a 375 px viewport
    "--remote-debugging-port=0",  # the browser picks a free port and prints it
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")
START_TIMEOUT = 30.0


class BrowserError(NewsletterError):
    """Chromium is missing, did not start, or a page command failed."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$CHROMIUM`` if set, else the first known name on PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if shutil.which(explicit) else None
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def _unusable(path: str) -> str:
    """Why ``path`` (``$CHROMIUM``) cannot be run: what a user checks first."""
    if os.sep not in path:
        return "no such command on PATH"
    if not os.path.exists(path):
        return "that path does not exist"
    if os.path.isdir(path):
        return "that path is a folder, not the browser's program"
    return "that file is not executable"


class Browser:
    """One headless Chromium with one page. Use as a context manager.

    Raises (on enter):
        BrowserError: no Chromium on PATH, or it did not start within 30 s.
    """

    def __init__(self, executable: str | None = None) -> None:
        found = executable or find_chromium()
        if found is None and (explicit := os.environ.get("CHROMIUM")):
            raise BrowserError(
                f"Chromium not found at CHROMIUM={explicit}: {_unusable(explicit)}",
                "set CHROMIUM to the browser's path (Debian: apt-get install chromium puts it "
                "at /usr/bin/chromium), or unset CHROMIUM to look for it on PATH",
            )
        if found is None:
            raise BrowserError(
                "Chromium not found (looked for chromium, chromium-browser, google-chrome)",
                "install it (Debian: apt-get install chromium) or set CHROMIUM to its path",
            )
        self.executable = found
        self._ids = itertools.count(1)
        self._proc: subprocess.Popen[str] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._ws: Any = None
        self._stack = contextlib.ExitStack()  # the websocket connection
        self._session = ""

    def __enter__(self) -> Browser:
        # Chromium's helper processes may still be writing as it goes: never fail on that.
        self._profile = tempfile.TemporaryDirectory(
            prefix="newsletter-chromium-", ignore_cleanup_errors=True
        )
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _start(self) -> None:
        from websockets.sync.client import connect

        assert self._profile is not None
        args = [self.executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"]
        try:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True, start_new_session=True,  # its own process group, ended as one
            )  # fmt: skip
        except OSError as exc:
            raise BrowserError(f"{self.executable}: cannot start: {exc.strerror}") from None
        url = self._wait_for_endpoint()
        self._ws = self._stack.enter_context(
            connect(url, max_size=None, open_timeout=START_TIMEOUT)
        )
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        self.call("Page.enable")

    def _wait_for_endpoint(self) -> str:
        """Read stderr until Chromium prints its DevTools websocket URL."""
        assert self._proc is not None and self._proc.stderr is not None
        deadline = time.monotonic() + START_TIMEOUT
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self._proc.stderr.readline()
            if not line:  # the process exited
                break
            seen.append(line.strip())
            if match := _LISTENING.search(line):
                return match.group(1)
        last = "; ".join(s for s in seen[-3:] if s) or "no output"
        raise BrowserError(f"{self.executable} did not start: {last}")

    def close(self) -> None:
        """Ask the browser to quit, then end its process group (renderers included)."""
        if self._ws is not None:
            with contextlib.suppress(Exception):  # it may be gone already
                self._call("Browser.close")
        self._stack.close()
        self._ws = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=10)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
            self._proc = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    # --- the protocol ---
    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one command to the page and return its result.

        Raises:
            BrowserError: the browser answered with an error.
        """
        return self._call(method, params, self._session)

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        msg_id = next(self._ids)
        message: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._ws.send(json.dumps(message))
        while True:  # events arrive interleaved with answers: skip them
            reply = json.loads(self._ws.recv(timeout=START_TIMEOUT))
            if reply.get("id") == msg_id:
                break
        if "error" in reply:
            raise BrowserError(f"Chromium: {method} failed: {reply['error'].get('message')}")
        return reply.get("result", {})  # type: ignore[no-any-return]

    # --- what previews and tests need ---
    def open(self, path: Path, width: int, dark: bool = False) -> None:
        """Load a local HTML file at a viewport ``width`` px wide (optionally in dark mode)
        and wait until it (images included, or their failure) has loaded."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600},
        )
        scheme = "dark" if dark else "light"
        self.call(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        self.call("Page.navigate", {"url": path.resolve().as_uri()})
        deadline = time.monotonic() + START_TIMEOUT
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise BrowserError(f"{path}: the page did not finish loading in 30 s")
            time.sleep(0.05)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page.

        Raises:
            BrowserError: the script threw.
        """
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            detail = result["exceptionDetails"]
            text = detail.get("exception", {}).get("description") or detail.get("text")
            raise BrowserError(f"script failed in the page: {text}")
        return result["result"].get("value")

    def screenshot(self, out: Path) -> None:
        """Write a PNG of the whole page (not just the viewport) to ``out``."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True,
             "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                      "scale": 1}},
        )  # fmt: skip
        out.write_bytes(base64.b64decode(shot["data"]))


# --- previews at desktop and phone widths ----------------------------------------

SCREEN_WIDTHS = {"desktop": 1200, "phone": 375}


def screenshot_preview(html_path: Path) -> list[Path]:
    """Render a preview in headless Chromium at desktop and phone widths; write
    ``<name>.desktop.png`` and ``<name>.phone.png`` next to it and return their paths.

    Raises:
        BrowserError: Chromium is missing or failed (the message says how to install it).
    """
    shots = []
    with Browser() as browser:
        for label, width in SCREEN_WIDTHS.items():
            browser.open(html_path, width)
            out = html_path.with_name(f"{html_path.stem}.{label}.png")
            browser.screenshot(out)
            shots.append(out)
    return shots
