"""A real ``newsletter serve`` process for tests: its log lines and its /healthz over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import with_sender
from smtpserver import free_port


class Served:
    """``newsletter [OPTIONS] serve`` running in ``folder`` with ``env`` added."""

    def __init__(self, folder: Path, env: dict[str, str], *options: str) -> None:
        self.port = free_port()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        full_env.update(with_sender(env, folder))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "newsletter", *options, "serve", "--listen",
             f"127.0.0.1:{self.port}"],
            cwd=folder, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The first log line containing ``text``; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no log line with {text!r} within {timeout} s:\n{self.log}")

    def health(self) -> tuple[int, dict[str, Any]]:
        """GET /healthz: the status code and the JSON body."""
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def wait_health(self, check: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                _, body = self.health()
            except (urllib.error.URLError, ConnectionError):
                pass  # not listening yet
            else:
                if check(body):
                    return body
            time.sleep(0.1)
        raise AssertionError(f"/healthz never matched within {timeout} s: {body}\n{self.log}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig``; return the exit code (fails the test if it does not exit)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
