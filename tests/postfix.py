"""A private Postfix instance on loopback, for delivery tests against a real relay.

Debian's ``postfix`` (installed with "No configuration": nothing in /etc/postfix is used or
changed) runs from a temporary configuration directory of its own: its own queue, data
and log, ``inet_interfaces = 127.0.0.1`` on a free port, every recipient of every domain
delivered into one catch-all Maildir (``virtual_mailbox_maps = static:catchall/``), and
``default_transport = error`` so nothing can leave the machine. Tests add Postfix's own
limits (``main.cf`` settings: rates, sizes, connection counts, per-recipient replies) and
count what the Maildir received.

It needs root (Postfix's master runs as root and drops to ``mail_owner``) and the
``postfix`` package; ``skip_reason`` says why it cannot run where it cannot.
"""

from __future__ import annotations

import contextlib
import email
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

POSTFIX = "/usr/sbin/postfix"
# Non-chroot services only (the chroot would need copies of /etc files).
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
virtual   unix  - n n -  - virtual
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def skip_reason() -> str | None:
    """Why a private Postfix cannot run here, or None."""
    if not os.path.exists(POSTFIX):
        return "Postfix is not installed (apt-get install postfix, 'No configuration')"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root (its master runs as root)"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no 'postfix' user (the Debian package creates it)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Postfix:
    """A running private instance: ``url`` to send to, ``maildir`` of what it delivered."""

    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def config(self) -> Path:
        return self.root / "conf"

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / "catchall"

    @property
    def log(self) -> Path:
        return self.root / "maillog"

    def _postfix(self, *args: str) -> None:
        subprocess.run(
            [POSTFIX, "-c", str(self.config), *args],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip

    def configure(self, **settings: str | int) -> None:
        """Add or change ``main.cf`` settings and reload (new smtpd processes use them)."""
        lines = [f"{name} = {value}" for name, value in settings.items()]
        with (self.config / "main.cf").open("a") as handle:
            handle.write("\n".join(lines) + "\n")
        self._postfix("reload")
        time.sleep(0.5)  # the master re-reads main.cf asynchronously

    def busy(self, *addresses: str, reply: str = "450 4.2.0 Mailbox busy, try again later") -> None:
        """Answer RCPT TO for these addresses with ``reply`` (a per-recipient condition)."""
        table = self.config / "busy.regexp"
        table.write_text("".join(f"/^{a.replace('.', '[.]')}$/ {reply}\n" for a in addresses))
        self.configure(
            smtpd_recipient_restrictions=f"check_recipient_access regexp:{table}, "
            "permit_mynetworks, reject_unauth_destination"
        )

    def smtpd_pids(self) -> list[int]:
        """The pids of the smtpd children of this instance's master."""
        master = int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        out = subprocess.run(
            ["ps", "-o", "pid=,comm=", "--ppid", str(master)],
            capture_output=True, text=True, check=False,
        ).stdout  # fmt: skip
        rows = (line.split() for line in out.splitlines())
        return [int(pid) for pid, comm in rows if comm == "smtpd"]

    def kill_smtpd(self) -> int:
        """``kill -9`` every smtpd child; how many there were."""
        pids = self.smtpd_pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return len(pids)

    def wait_delivered(self, expected: int, timeout: float = 30) -> None:
        """Until the queue is empty and at least ``expected`` messages are in the Maildir
        (Postfix delivers asynchronously after it accepted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queued = any(
                path.is_file()
                for q in ("incoming", "active", "deferred")
                for path in (self.root / "queue" / q).rglob("*")
            )
            if not queued and len(self.messages()) >= expected:
                time.sleep(0.3)  # a last delivery being renamed into new/
                return
            time.sleep(0.1)

    def messages(self) -> list[Path]:
        new = self.maildir / "new"
        return sorted(new.iterdir()) if new.is_dir() else []

    def received(self) -> Counter[str]:
        """How many messages each recipient got (``Delivered-To``, which Postfix adds)."""
        counts: Counter[str] = Counter()
        for path in self.messages():
            with path.open("rb") as handle:
                headers = email.message_from_binary_file(handle)
            counts[str(headers["Delivered-To"]).lower()] += 1
        return counts

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._postfix("stop")
        # "postfix stop" waits for the master; any straggler of this instance goes too.
        with contextlib.suppress(Exception):
            for pid in self.smtpd_pids():
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def private_postfix(**settings: str | int) -> Iterator[Postfix]:
    """Start a private Postfix with these extra ``main.cf`` settings; always stop it."""
    owner = pwd.getpwnam("postfix")
    root = Path(tempfile.mkdtemp(prefix="newsletter-postfix-"))
    root.chmod(0o755)  # the postfix user delivers under it
    instance = Postfix(root, _free_port())
    for name in ("conf", "queue", "data", "mail"):
        (root / name).mkdir()
    for name in ("data", "mail"):  # the queue stays root's: postfix sets up its folders
        os.chown(root / name, owner.pw_uid, owner.pw_gid)
    main = {
        "compatibility_level": "3.6",
        "queue_directory": root / "queue",
        "data_directory": root / "data",
        "meta_directory": "/etc/postfix",
        "mail_owner": "postfix",
        "maillog_file": instance.log,
        "maillog_file_prefixes": root,
        "myhostname": "relay.test",
        "mydestination": "",
        "relay_domains": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "smtpd_client_event_limit_exceptions": "",  # loopback is limited like any client
        "virtual_mailbox_domains": "static:all",
        "virtual_mailbox_base": root / "mail",
        "virtual_mailbox_maps": "static:catchall/",
        "virtual_uid_maps": f"static:{owner.pw_uid}",
        "virtual_gid_maps": f"static:{owner.pw_gid}",
        "virtual_minimum_uid": 1,
        "default_transport": "error",  # nothing leaves the machine
        "smtputf8_enable": "no",
        "biff": "no",
        "queue_run_delay": "1s",
        # After an smtpd is killed the master waits this long before forking another
        # (default 60 s): a test kills them on purpose.
        "service_throttle_time": "1s",
        "minimal_backoff_time": "1s",
        **settings,
    }
    (root / "conf" / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))
    (root / "conf" / "master.cf").write_text(MASTER_CF.format(port=instance.port))
    try:
        instance._postfix("start")
        _wait_listening(instance.port)
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait_listening(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(100)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
