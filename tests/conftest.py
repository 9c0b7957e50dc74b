"""Shared fixtures: a project folder like a user's, a real SMTP server, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from feedserver import FeedServer, serving
from htmlcheck import html_parts, invalid_attributes, rendered_html_in
from smtpserver import Recorder, start_server

ROOT = Path(__file__).resolve().parent.parent
# Over SMTP the shipped placeholder identity is refused (settings/values.py): runs that mail
# the test server speak as this sender unless the test sets its own.
SENDER = {
    "NEWSLETTER_FROM_ADDRESS": "Daily Newsletter <news@example.com>",
    "NEWSLETTER_POSTAL_ADDRESS": "Daily Newsletter, 2 Test Road, Testville",
}

# Retries at once in tests of deferrals and reconnects (a user's defaults are seconds).
FAST_RETRIES = {"NEWSLETTER_RETRY_BACKOFF": "0.01", "NEWSLETTER_RETRY_BACKOFF_MAX": "0.05"}


def many_subscribers(project: Project, n: int) -> list[str]:
    """Write a list of ``n`` readers (reader00000@example.com, ...); returns their addresses."""
    emails = [f"reader{i:05d}@example.com" for i in range(n)]
    lines = ["email,name"] + [f"{e},Reader {i}" for i, e in enumerate(emails)]
    project.write("subscribers/subscribers.csv", "\n".join(lines) + "\n")
    return emails


def with_sender(env: dict[str, str], folder: Path | None = None) -> dict[str, str]:
    """``env`` plus ``SENDER`` when it sends over SMTP; the test's own values win, in
    ``env`` or in ``folder``'s newsletter.toml (the environment would override the file)."""
    if "NEWSLETTER_SMTP_URL" not in env:
        return env
    config = folder / "newsletter.toml" if folder is not None else None
    written = tomllib.loads(config.read_text()) if config and config.is_file() else {}
    sender = {k: v for k, v in SENDER.items() if k[len("NEWSLETTER_") :].lower() not in written}
    return {**sender, **env}


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Project:
    """A temp folder with seeds, a subscriber CSV and a config, where the CLI runs."""

    path: Path

    def write(self, name: str, text: str) -> Path:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return target

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        """Run ``newsletter ARGS`` as a user would, in its own process."""
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        full_env.update(with_sender(env or {}, self.path))
        proc = subprocess.run(
            [sys.executable, "-m", "newsletter", *args],
            cwd=self.path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@contextmanager
def lock_held(project: Project) -> Iterator[None]:
    """Hold the run lock from another process, exactly as a running send would."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from pathlib import Path; from newsletter.store.lock import run_lock\n"
            "with run_lock(Path('newsletter.db.lock')):\n"
            "    print('locked', flush=True); time.sleep(60)",
        ],
        cwd=project.path,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(autouse=True)
def _inlined_html_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every edition a test renders in this process is read back with an HTML parser: no
    attribute the inliner writes where HTML has none (see htmlcheck)."""
    from newsletter.edition import render

    inline = render.inline_css

    def checked(html: str) -> str:
        inlined = inline(html)
        assert invalid_attributes(inlined) == []
        return inlined

    monkeypatch.setattr(render, "inline_css", checked)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    """The folder; after the test, every edition its runs rendered (outbox, previews,
    archive) is checked with an HTML parser, as in-process renders are."""
    yield _new_project(tmp_path)
    invalid = {
        where: bad
        for where, html in rendered_html_in(tmp_path).items()
        if (bad := invalid_attributes(html))
    }
    assert invalid == {}


def _new_project(tmp_path: Path) -> Project:
    shutil.copytree(ROOT / "seeds", tmp_path / "seeds")
    proj = Project(tmp_path)
    proj.write(
        "subscribers/subscribers.csv",
        """
        email,name,status,city
        ada@example.com,Ada Lovelace,active,London
        grace@example.org,Grace Hopper,,Arlington
        linus@example.net,"Torvalds, Linus",active,Portland
        zoe@example.com,Zoë Ñúñez,active,Sevilla
        alan@example.com,Alan Turing,unsubscribed,Wilmslow
        """,
    )
    return proj


ACTIVE = ["ada@example.com", "grace@example.org", "linus@example.net", "zoe@example.com"]


@pytest.fixture
def smtp() -> Iterator[tuple[Recorder, str]]:
    """A real aiosmtpd server on loopback; yields the recorder and its smtp:// URL."""
    recorder = Recorder()
    controller = start_server(recorder)
    try:
        yield recorder, f"smtp://127.0.0.1:{controller.port}"
    finally:
        controller.stop()
    invalid = [
        bad
        for r in recorder.received
        for html in html_parts(r.data)
        if (bad := invalid_attributes(html))
    ]
    assert invalid == []


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    """A real HTTP server on loopback serving fixture feeds and pictures (tests/feedserver.py)."""
    with serving() as server:
        yield server
