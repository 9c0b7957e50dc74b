"""Plain, implicit TLS and required STARTTLS relays, and authentication, over real sockets."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from conftest import ACTIVE, Project
from smtpserver import Authenticator, Recorder, start_server

DAY = "2026-11-27"


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA, tmp_path: Path) -> tuple[ssl.SSLContext, dict[str, str]]:
    """A server TLS context for 127.0.0.1, and the env that makes the client trust it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, {"SSL_CERT_FILE": str(ca_file)}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def serve(recorder: Recorder, **kwargs: object) -> Iterator[int]:
    controller = start_server(recorder, **kwargs)
    try:
        yield controller.port
    finally:
        controller.stop()


def test_smtps_delivers_over_implicit_tls(project: Project, recorder: Recorder, tls) -> None:
    context, env = tls
    for port in serve(recorder, ssl_context=context):
        env["NEWSLETTER_SMTP_URL"] = f"smtps://127.0.0.1:{port}"
        run = project.run("send", "--date", DAY, env=env)
        assert run.code == 0, run.err
    assert sorted(r.recipients[0] for r in recorder.received) == sorted(ACTIVE)


def test_starttls_delivers_when_offered(project: Project, recorder: Recorder, tls) -> None:
    context, env = tls
    for port in serve(recorder, tls_context=context, require_starttls=True):
        env["NEWSLETTER_SMTP_URL"] = f"smtp+starttls://127.0.0.1:{port}"
        run = project.run("send", "--date", DAY, env=env)
        assert run.code == 0, run.err
    assert len(recorder.received) == 4


def test_starttls_never_falls_back_to_plaintext(project: Project, recorder: Recorder) -> None:
    for port in serve(recorder):  # offers no STARTTLS
        env = {"NEWSLETTER_SMTP_URL": f"smtp+starttls://127.0.0.1:{port}"}
        run = project.run("send", "--date", DAY, env=env)
        assert run.code == 1
        assert f"127.0.0.1:{port}" in run.err and "STARTTLS" in run.err
    assert recorder.received == []
    # Nothing was recorded: the next run with a working relay delivers to everyone.
    for port in serve(recorder):
        run = project.run(
            "send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{port}"}
        )
        assert run.code == 0, run.err
    assert len(recorder.received) == 4


def test_credentials_in_the_url_or_settings_log_in(project: Project, recorder: Recorder) -> None:
    auth = {
        "authenticator": Authenticator("mailer", "s3cret/+"),
        "auth_require_tls": False,
        "auth_required": True,
    }
    for port in serve(recorder, **auth):
        run = project.run(
            "send",
            "--date",
            DAY,
            env={
                "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{port}",
                "NEWSLETTER_SMTP_USERNAME": "mailer",
                "NEWSLETTER_SMTP_PASSWORD": "s3cret/+",
            },
        )
        assert run.code == 0, run.err
    assert len(recorder.received) == 4


def test_rejected_credentials_stop_the_run_before_anything_is_marked(
    project: Project, recorder: Recorder
) -> None:
    auth = {
        "authenticator": Authenticator("mailer", "right"),
        "auth_require_tls": False,
        "auth_required": True,
    }
    for port in serve(recorder, **auth):
        url = f"smtp://mailer:wrong@127.0.0.1:{port}"
        run = project.run("send", "--date", DAY, env={"NEWSLETTER_SMTP_URL": url})
        assert run.code == 2
        assert f"127.0.0.1:{port} refused authentication for user 'mailer'" in run.err
        assert "wrong" not in run.err + run.out  # the password is never printed
        good = project.run(
            "send",
            "--date",
            DAY,
            env={"NEWSLETTER_SMTP_URL": f"smtp://mailer:right@127.0.0.1:{port}"},
        )
        assert good.code == 0, good.err
    assert len(recorder.received) == 4
