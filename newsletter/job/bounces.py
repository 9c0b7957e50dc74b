"""The bounce job: read the bounce mailbox once and change the list (``bounces.apply``),
under the run lock, like every list change. ``newsletter bounces`` (cron) runs it, and
the daemon on ``bounce_schedule`` (never at the same time as a send: the same lock).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..settings import Settings, values
from ..store.database import Store
from ..store.lock import lock_path, run_lock
from ..subscribers.changes import apply_pending
from .send import check_store

if TYPE_CHECKING:
    from ..bounces.apply import BounceSummary


def run_bounces(settings: Settings, now: datetime) -> BounceSummary:
    """Process every report waiting in ``bounce_mailbox``.

    Raises:
        ConfigError: ``bounce_mailbox`` is not set; nothing was done.
        LockedError: another run holds the lock; nothing was done.
        MailboxError: the mailbox cannot be reached or refused the login (nothing was
            changed), or failed on the way (what was processed is recorded).
        StoreError, InputError: the database or the CSV cannot be written.
    """
    spec = values.mailbox_spec(settings)
    if spec is None:
        raise ConfigError(
            "bounce_mailbox is not set: there is no bounce mailbox to read",
            "set bounce_mailbox to a Maildir path or imaps://user@host/INBOX",
        )
    # flufl.bounce and imapclient load only for this job, not for every command
    from ..bounces.apply import BounceRun
    from ..bounces.readers import open_mailbox

    files = values.list_files(settings)
    with run_lock(lock_path(settings.database)), Store(settings.database) as store:
        check_store(settings, store)
        mailbox = open_mailbox(spec)  # before anything changes: unreachable is exit 1
        try:
            apply_pending(files, store, now)  # unsubscribes recorded meanwhile, first
            tokens = values.bounce_tokens_of(settings, store, now)
            run = BounceRun(store, files, tokens, settings.soft_bounce_limit, now)
            return run.run(mailbox)
        finally:
            mailbox.close()


async def bounces_locked(settings: Settings, now: datetime) -> BounceSummary:
    """``run_bounces`` for the daemon's event loop: the mailbox is read in a worker thread
    (IMAP is blocking), so /healthz and unsubscribes go on meanwhile.

    Raises:
        as ``run_bounces``.
    """
    return await asyncio.to_thread(run_bounces, settings, now)
