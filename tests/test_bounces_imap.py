"""`newsletter bounces` over IMAP against a real Dovecot on loopback (tests/dovecot.py):
imaps:// and imap:// with STARTTLS, a private CA, processed reports moved, a refused login
or an unreachable server exit 1 with nothing changed."""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import dovecot
import pytest
from bouncebox import EXPECTED, copies, filled, sent_project, statuses
from conftest import Project
from imapclient import IMAPClient

pytestmark = pytest.mark.skipif((reason := dovecot.skip_reason()) is not None, reason=reason or "")
REPORTS = ["postfix-dsn.eml", "yahoo-arf.eml", "autoreply.eml", "forged.eml"]


@pytest.fixture(scope="module")
def server() -> Iterator[dovecot.Dovecot]:
    with dovecot.running() as running:
        yield running


def _config(server: dovecot.Dovecot, url: str, password: str | None = None) -> str:
    lines = [
        'bounce_address = "bounces@example.org"',
        f'bounce_mailbox = "{url}"',
        f'bounce_ca_file = "{server.ca_file}"',
        "bounce_timeout = 5",
    ]
    if password is not None:
        lines.append(f'bounce_password = "{password}"')
    return "\n".join(lines) + "\n"


def _folders(server: dovecot.Dovecot) -> dict[str, int]:
    """How many messages each folder holds, as an IMAP client sees them."""
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with IMAPClient("127.0.0.1", server.imaps_port, ssl_context=context, timeout=5) as client:
        client.login(dovecot.USER, dovecot.PASSWORD)
        found = {}
        for _, _, name in client.list_folders():
            found[name] = client.folder_status(name, [b"MESSAGES"])[b"MESSAGES"]
        return found


def _empty(server: dovecot.Dovecot) -> None:
    context = ssl.create_default_context(cafile=str(server.ca_file))
    with IMAPClient("127.0.0.1", server.imaps_port, ssl_context=context, timeout=5) as client:
        client.login(dovecot.USER, dovecot.PASSWORD)
        for _, _, name in client.list_folders():
            client.select_folder(name)
            if uids := client.search(["ALL"]):
                client.delete_messages(uids)
                client.expunge()


@pytest.mark.parametrize("scheme", ["imaps", "imap"])
def test_reports_are_read_and_moved_to_processed(
    project: Project, server: dovecot.Dovecot, scheme: str
) -> None:
    _empty(server)
    sent_project(project, config=_config(server, server.url(scheme), dovecot.PASSWORD))
    sent = copies(project)
    for name in REPORTS:
        server.deliver(f"{scheme}-{name}", filled(name, sent))
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert result.out.splitlines()[-1] == (
        "bounces: 1 hard bounce, 0 soft bounces, 1 complaint, 1 auto-reply ignored, "
        "0 unrecognised, 1 forged or stray; 2 subscribers left the list"
    )
    assert "UID " in result.out and "forged or stray" in result.out  # listed by UID
    now = statuses(project)
    assert now["ada@example.com"] == "bounced"
    assert now["omar@example.com"] == "unsubscribed"
    assert now["rita@example.com"] == now["quinn@example.com"] == "active"
    assert _folders(server) == {"INBOX": 0, "Processed": len(REPORTS)}
    again = project.run("bounces")
    assert again.code == 0, again.err
    assert "0 hard bounces, 0 soft bounces, 0 complaints" in again.out


def test_the_password_may_be_in_the_url_and_is_never_printed(
    project: Project, server: dovecot.Dovecot
) -> None:
    _empty(server)
    sent_project(project, config=_config(server, server.url("imaps", password=True)))
    server.deliver("one.eml", filled("postfix-dsn.eml", copies(project)))
    result = project.run("bounces")
    assert result.code == 0, result.err
    assert dovecot.PASSWORD not in result.out + result.err
    assert statuses(project)["ada@example.com"] == "bounced"


def test_a_refused_login_is_exit_1_with_the_host_named_and_nothing_changed(
    project: Project, server: dovecot.Dovecot
) -> None:
    _empty(server)
    sent_project(project, config=_config(server, server.url("imaps"), "wrong-password"))
    server.deliver("refused.eml", filled("postfix-dsn.eml", copies(project)))
    result = project.run("bounces")
    assert result.code == 1
    assert f"127.0.0.1:{server.imaps_port}" in result.err
    assert "refused the login" in result.err
    assert "wrong-password" not in result.err + result.out
    assert all(s == "active" for s in statuses(project).values())
    assert _folders(server)["INBOX"] == 1


def test_an_unreachable_server_is_exit_1_and_a_private_ca_is_needed(
    project: Project, server: dovecot.Dovecot
) -> None:
    _empty(server)
    closed = dovecot._free_port()
    config = _config(server, server.url("imaps", port=closed), dovecot.PASSWORD)
    sent_project(project, config=config)
    result = project.run("bounces")
    assert result.code == 1
    assert f"127.0.0.1:{closed}: cannot use the IMAP mailbox" in result.err
    # without the CA file the server's certificate is not trusted: said, not a traceback
    untrusted = config.replace(f'bounce_ca_file = "{server.ca_file}"\n', "").replace(
        f":{closed}/", f":{server.imaps_port}/"
    )
    project.write("newsletter.toml", untrusted)
    result = project.run("bounces")
    assert result.code == 1
    assert "certificate not trusted" in result.err and "bounce_ca_file" in result.err
    assert all(s == "active" for s in statuses(project).values())
    assert set(EXPECTED) == set(statuses(project))


def test_a_server_that_never_answers_times_out(project: Project, server: dovecot.Dovecot) -> None:
    import socket
    import time

    with socket.socket() as silent:  # the kernel accepts; nobody ever speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        config = _config(server, server.url("imaps", port=port), dovecot.PASSWORD)
        sent_project(project, config=config.replace("bounce_timeout = 5", "bounce_timeout = 1"))
        started = time.monotonic()
        result = project.run("bounces", timeout=30)
    assert result.code == 1
    assert f"127.0.0.1:{port}: cannot use the IMAP mailbox: no answer (timed out)" in result.err
    assert time.monotonic() - started < 15


def test_without_move_reports_are_copied_then_expunged(project: Project) -> None:
    # a server without RFC 6851 MOVE (older servers): COPY, \\Deleted, EXPUNGE instead
    without_move = "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE UIDPLUS\n"
    with dovecot.running(without_move) as old:
        sent_project(project, config=_config(old, old.url("imaps"), dovecot.PASSWORD))
        sent = copies(project)
        for name in REPORTS:
            old.deliver(name, filled(name, sent))
        result = project.run("bounces")
        assert result.code == 0, result.err
        assert "1 hard bounce" in result.out
        assert _folders(old) == {"INBOX": 0, "Processed": len(REPORTS)}
