"""A private Dovecot IMAP server on loopback, for the bounce mailbox tests.

Debian's ``dovecot-imapd`` runs from a temporary configuration of its own (``-c``): its
own base and state folders and log, IMAP (STARTTLS) and IMAPS listeners on free ports of
127.0.0.1, one passwd-file user, mail in a Maildir in the temporary folder, and a
certificate for 127.0.0.1 issued by a throwaway CA (trustme): the client trusts it through
``bounce_ca_file``, as a user with a private CA would. Nothing in /etc/dovecot is read.

As root, Dovecot's own unprivileged users serve the logins and the mail belongs to the
``mail`` user; as another user everything runs as that user. ``skip_reason`` says why it
cannot run where it cannot.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOVECOT = "/usr/sbin/dovecot"
CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
USER, PASSWORD = "bounces", "s3cret-imap-pw"


def skip_reason() -> str | None:
    """Why a private Dovecot cannot run here, or None."""
    if not os.path.exists(DOVECOT) or not os.path.exists("/usr/lib/dovecot/imap"):
        return "Dovecot is not installed (apt-get install dovecot-imapd)"
    try:
        import trustme  # noqa: F401
    except ImportError:
        return "trustme is not installed (the test extra)"
    if os.geteuid() == 0:
        for name in ("dovecot", "dovenull", "mail"):
            try:
                pwd.getpwnam(name)
            except KeyError:
                return f"the {name!r} user is missing (Debian's dovecot-core makes it)"
    return None


@dataclass
class Dovecot:
    root: Path
    imap_port: int
    imaps_port: int
    ca_file: Path
    uid: int
    gid: int

    @property
    def inbox(self) -> Path:
        """The user's INBOX as a Maildir (messages put in ``new/`` arrive)."""
        return self.root / "mail" / USER

    def folder(self, name: str) -> Path:
        """Another folder's Maildir (Maildir++: ``.Name`` under the INBOX)."""
        return self.inbox / f".{name}"

    def deliver(self, name: str, data: bytes) -> None:
        for sub in ("tmp", "new", "cur"):
            (self.inbox / sub).mkdir(parents=True, exist_ok=True)
        target = self.inbox / "new" / name
        target.write_bytes(data)
        for path in (self.inbox, *self.inbox.iterdir(), target):
            os.chown(path, self.uid, self.gid)

    def url(self, scheme: str = "imaps", password: bool = False, port: int | None = None) -> str:
        port = port or (self.imaps_port if scheme == "imaps" else self.imap_port)
        auth = f"{USER}:{PASSWORD}" if password else USER
        return f"{scheme}://{auth}@127.0.0.1:{port}/INBOX"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _identity() -> tuple[str, str, int, int]:
    """(internal user, login user, mail uid, mail gid)."""
    if os.geteuid() == 0:
        mail = pwd.getpwnam("mail")
        return "dovecot", "dovenull", mail.pw_uid, mail.pw_gid
    me = pwd.getpwuid(os.geteuid())
    return me.pw_name, me.pw_name, me.pw_uid, me.pw_gid


@contextmanager
def running(extra: str = "") -> Iterator[Dovecot]:
    """Start a private Dovecot (``extra``: more configuration lines); stop it and remove its
    folder afterwards."""
    import trustme

    root = Path(tempfile.mkdtemp(prefix="dovecot-"))
    os.chmod(root, 0o755)
    internal, login, uid, gid = _identity()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(root / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(root / "server.pem"))
    ca_file = root / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "mail").mkdir()
    os.chown(root / "mail", uid, gid)
    server = Dovecot(root, _free_port(), _free_port(), ca_file, uid, gid)
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            root=root,
            internal=internal,
            login=login,
            uid=uid,
            gid=gid,
            imap_port=server.imap_port,
            imaps_port=server.imaps_port,
        )
        + extra
    )
    # The daemon keeps its stdout and stderr: a file, not a pipe anyone waits on.
    with (root / "start.log").open("w") as out:
        started = subprocess.run(
            [DOVECOT, "-c", str(config)], stdout=out, stderr=out, stdin=subprocess.DEVNULL
        )
    try:
        if started.returncode != 0:
            raise RuntimeError(f"dovecot did not start: {_log(root, 'start.log')}")
        _wait_for(server.imaps_port, root)
        yield server
    finally:
        _stop(root)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for(port: int, root: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on {port}: {_log(root)}")


def _stop(root: Path) -> None:
    pid_file = root / "run" / "master.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def _log(root: Path, name: str = "dovecot.log") -> str:
    try:
        return (root / name).read_text()[-2000:]
    except OSError:
        return ""
