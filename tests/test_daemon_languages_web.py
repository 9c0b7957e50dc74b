"""`newsletter serve` speaks the list's language: the unsubscribe and sign-up pages."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import Project
from smtpserver import free_port
from test_daemon_unsubscribe_web import ENV, http


@pytest.fixture
def serve(project: Project) -> Iterator[object]:
    """Start ``newsletter serve`` with ``language``; yields a function giving its base URL."""
    procs: list[subprocess.Popen[str]] = []

    def start(language: str) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "serve", "--listen", f"127.0.0.1:{port}"],
            cwd=project.path, env={**env, **ENV, "NEWSLETTER_LANGUAGE": language},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if http(f"{base}/healthz").status == 200:
                    return base
            except OSError:
                time.sleep(0.05)
        raise AssertionError("newsletter serve did not start")

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_french_list_gets_french_pages(serve) -> None:  # type: ignore[no-untyped-def]
    base = serve("fr")
    forged = http(f"{base}/unsubscribe/u1forged")
    assert forged.status == 400
    assert '<html lang="fr" dir="ltr">' in forged.body
    assert "Ce lien de désabonnement n’est pas valide" in forged.body
    form = http(f"{base}/subscribe")
    assert form.status == 200
    assert "Adresse e-mail" in form.body and "S’abonner" in form.body
    assert "Email address" not in form.body


def test_an_arabic_list_gets_right_to_left_pages(serve) -> None:  # type: ignore[no-untyped-def]
    base = serve("ar")
    forged = http(f"{base}/unsubscribe/u1forged")
    assert '<html lang="ar" dir="rtl">' in forged.body
    assert "رابط إلغاء الاشتراك هذا غير صالح" in forged.body
    form = http(f"{base}/subscribe")
    assert '<body class="wrapper" dir="rtl">' in form.body and "اشترك" in form.body
