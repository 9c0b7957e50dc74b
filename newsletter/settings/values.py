"""The settings as the plain values each stage takes.

Stages never see the ``Settings`` object: the job and the entry points call these to
hand each stage only what it needs, as frozen values (paths, numbers, small dataclasses).
Importing this module loads none of the heavy stacks (HTTP, feeds, Jinja, premailer, SMTP,
cryptography): each function imports what only it needs, so a command that needs one value
pays for that one.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from ..collect.config import CollectConfig, FetchLimits, user_agent
from ..delivery.throttle import Limit, parse_limits
from ..edition.plan import ArchiveSite, EditionInputs, EditionPlan
from ..edition.rendered import ListInfo
from ..errors import ConfigError
from ..store.database import Store
from ..subscribers.changes import ListFiles
from .bounces import imap_url
from .config import PLACEHOLDER_FROM, PLACEHOLDER_POSTAL_ADDRESS, Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ..bounces.mailbox import MailboxSpec
    from ..delivery.sender import Retries
    from ..delivery.sendloop import Policy, Transport
    from ..mail.dkim import DkimSigner
    from ..mail.personalize import MailContext
    from ..mail.proof import ProofNote
    from ..mail.verp import BounceTokens


def collect_config(settings: Settings) -> CollectConfig:
    return CollectConfig(
        sources=tuple(settings.sources),
        zone=settings.zone,
        limits=FetchLimits(
            timeout=settings.feed_timeout,
            max_bytes=settings.feed_max_bytes,
            concurrency=settings.feed_concurrency,
            user_agent=user_agent(settings.public_url),
        ),
        new_source_window=timedelta(hours=settings.new_source_hours),
        failure_alert=settings.feed_failure_alert,
    )


def list_files(settings: Settings) -> ListFiles:
    return ListFiles(settings.subscribers, settings.database)


def list_info(settings: Settings) -> ListInfo:
    return ListInfo(
        name=settings.newsletter_name,
        postal_address=settings.postal_address,
        public_url=settings.public_url,
        unsubscribe_mailto=settings.unsubscribe_mailto or settings.from_email,
        language=settings.language,
        archive_url=settings.archive_url if settings.archive is not None else None,
        contact=parseaddr(settings.reply_to)[1] if settings.reply_to else settings.from_email,
    )


def edition_inputs(settings: Settings) -> EditionInputs:
    return EditionInputs(
        templates=settings.templates,
        info=list_info(settings),
        subscribers=settings.subscribers,
        max_articles=settings.max_articles,
        section_order=tuple(settings.section_order),
    )


def archive_site(settings: Settings) -> ArchiveSite | None:
    """The web archive, or None when it is turned off (``archive = ""``)."""
    if settings.archive is None:
        return None
    return ArchiveSite(
        settings.archive, settings.from_domain, settings.list_identifier, settings.zone
    )


def secret_key(settings: Settings, store: Store | None) -> bytes:
    """The key that signs unsubscribe links: the setting, else one generated and kept in the
    database (so links keep working across runs without any configuration); without a
    database (a preview), a throwaway one."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if store is None:
        return secrets.token_bytes(32)
    key = store.meta("secret_key")
    if key is None:
        key = secrets.token_hex(32)
        store.set_meta("secret_key", key)
    return key.encode()


def dkim_signer(settings: Settings, now: datetime | None) -> DkimSigner | None:
    """Raises: ConfigError (half-configured DKIM, or an unusable key file)."""
    from ..mail.dkimkeys import load_signer  # cryptography

    domain = settings.dkim_domain or settings.from_domain
    return load_signer(settings.dkim_private_key, settings.dkim_selector, domain, now)


def mail_context(
    settings: Settings, plan: EditionPlan, secret: bytes, now: datetime | None = None
) -> MailContext:
    """Raises: ConfigError (DKIM settings or key file)."""
    from ..mail.personalize import MailContext, format_address

    name, address = parseaddr(settings.from_address)
    return MailContext(
        from_address=format_address(name, address),
        list_id=settings.list_identifier,
        list_name=settings.newsletter_name,
        message_id_domain=settings.from_domain,
        unsubscribe_mailto=settings.unsubscribe_mailto or settings.from_email,
        public_url=settings.public_url,
        secret=secret,
        edition_tag=plan.tag,
        reply_to=settings.reply_to,
        dkim=dkim_signer(settings, now),
    )


# --- editors' review: proofs and the approval gate -------------------------------------


def identity(settings: Settings) -> tuple[str, ...]:
    """The mail settings an approval covers besides the rendering (which already shows the
    list's name, postal address and links): what the headers say and who signs."""
    return (
        settings.from_address, settings.reply_to or "", settings.list_identifier,
        settings.newsletter_name, settings.unsubscribe_mailto or settings.from_email,
        settings.public_url or "", settings.dkim_selector or "",
        settings.dkim_domain or settings.from_domain,
    )  # fmt: skip


def edition_fingerprint(settings: Settings, plan: EditionPlan) -> str:
    """The approval fingerprint of ``plan`` as rendered now (``edition.approval``)."""
    from ..edition.approval import fingerprint

    return fingerprint(plan.article_ids, plan.rendered.fingerprint, identity(settings))


def proof_note(
    settings: Settings, secret: bytes, plan: EditionPlan, version: str, editor: str, now: datetime
) -> ProofNote | None:
    """What opens an editor's proof: None without an approval gate; else the edition's day
    and, with ``public_url``, the editor's own signed approve/hold link."""
    from ..edition.approval import LINK_LIFETIME, NONE, ReviewLink, review_codec
    from ..mail.proof import ProofNote

    if settings.approval == NONE:
        return None
    link = None
    if settings.public_url:
        review = ReviewLink(plan.day, version, editor, now + LINK_LIFETIME)
        token = review.seal(review_codec(secret, settings.list_identifier))
        link = f"{settings.public_url.rstrip('/')}/review/{token}"
    return ProofNote(plan.day.isoformat(), link)


def transport(settings: Settings) -> Transport:
    """The SMTP relay of ``smtp_url``, else the local Maildir outbox."""
    from ..delivery.outbox import MaildirTransport
    from ..delivery.relay import SmtpTarget, SmtpTransport  # aiosmtplib

    if settings.smtp_url is None:
        return MaildirTransport(settings.outbox)
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    target = SmtpTarget.from_url(
        settings.smtp_url,
        settings.smtp_username,
        password,
        timeout=settings.smtp_timeout,
        verify=settings.smtp_tls_verify,
    )
    return SmtpTransport(target, helo_name=settings.from_domain)


def send_policy(settings: Settings) -> Policy:
    from ..delivery.sendloop import Policy

    return Policy(
        connections=1 if settings.smtp_url is None else settings.smtp_connections,
        messages_per_connection=settings.smtp_messages_per_connection,
        max_attempts=settings.max_attempts,
        backoff_unit=settings.retry_backoff,
        backoff_cap=settings.retry_backoff_max,
        pause_after_failures=settings.pause_after_failures,
        max_rate_wait=settings.max_rate_wait,
    )


def retries(settings: Settings) -> Retries:
    from ..delivery.sender import Retries

    return Retries(settings.in_doubt == "hold", settings.max_deferred_days)


def rate_limits(settings: Settings) -> list[Limit]:
    return parse_limits(settings.rate_limit) if settings.rate_limit else []


def delivered_to(settings: Settings) -> tuple[Path | None, str | None]:
    """(outbox, relay) as a send's summary names them; the relay without its credentials."""
    if settings.smtp_url:
        return None, settings.smtp_url.split("@")[-1]
    return settings.outbox, None


# --- before and during a run that sends real mail -------------------------------------


def check_sending(settings: Settings) -> None:
    """What must hold before ``send`` or ``serve`` collects, freezes or sends anything.

    Over SMTP, mail reaches real people: the shipped placeholder From address and postal
    address are refused (mail from example.com fails DMARC, and anti-spam laws such as
    CAN-SPAM require the sender's real postal address in every message). Without
    ``smtp_url`` mail goes to the local Maildir outbox, so the demo works on the defaults.
    The DKIM key file must be readable (``dkim keygen`` may create it later, so it is not
    required when the settings load).

    Raises:
        ConfigError: the placeholder identity over SMTP, or an unusable DKIM key file.
    """
    if settings.smtp_url is not None:
        shipped = {
            "from_address": settings.from_email.lower() == parseaddr(PLACEHOLDER_FROM)[1],
            "postal_address": _same_text(settings.postal_address, PLACEHOLDER_POSTAL_ADDRESS),
        }
        if names := [name for name, placeholder in shipped.items() if placeholder]:
            one = len(names) == 1
            raise ConfigError(
                f"smtp_url is set, but {' and '.join(names)} {'is' if one else 'are'} still "
                f"the shipped placeholder{'' if one else 's'}: refusing to mail real people "
                "under them",
                "set " + " and ".join(_OWN[name] for name in names) + " (in newsletter.toml "
                "or as NEWSLETTER_<SETTING>); without smtp_url mail goes to the local Maildir "
                "outbox instead",
            )
    dkim_signer(settings, None)


def run_warnings(settings: Settings) -> list[str]:
    """What a run that sends should warn about, each time it runs (one line each)."""
    warnings = []
    if settings.smtp_url is not None and not settings.public_url:
        warnings.append(
            "public_url is not set, so messages offer only a mailto: unsubscribe: Gmail and "
            "Yahoo require one-click unsubscribe (RFC 8058) from bulk senders. Set "
            "public_url to the https address where 'newsletter serve' answers (it serves "
            "the unsubscribe links) and keep 'newsletter serve' running"
        )
    return warnings


_OWN = {
    "from_address": "from_address to an address at your own domain ('Name <news@your-domain>')",
    "postal_address": "postal_address to your real postal address",
}


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


# --- bounces ---------------------------------------------------------------------------


def mailbox_spec(settings: Settings) -> MailboxSpec | None:
    """Where bounces arrive, for ``bounces.readers.open_mailbox``; None when unset."""
    url = settings.bounce_mailbox
    if url is None:
        return None
    from ..bounces.mailbox import MailboxSpec

    if "://" not in url:
        return MailboxSpec(path=Path(url), timeout=settings.bounce_timeout)
    scheme, user, port, host, password, folder = imap_url(url)
    if settings.bounce_password is not None:
        password = settings.bounce_password.get_secret_value()
    return MailboxSpec(
        host=host, port=port, tls="implicit" if scheme == "imaps" else "starttls",
        user=user, password=password, folder=folder,
        processed=settings.bounce_processed_folder, ca_file=settings.bounce_ca_file,
        timeout=settings.bounce_timeout,
    )  # fmt: skip


def bounce_tokens(
    settings: Settings, secret: bytes, previous: Sequence[bytes] = ()
) -> BounceTokens | None:
    """The VERP token maker and checker (tokens of the ``previous`` keys verify too); None
    without ``bounce_address``."""
    if settings.bounce_address is None:
        return None
    from ..mail.verp import BounceTokens

    return BounceTokens(secret, settings.bounce_address, previous)


def bounce_tokens_of(
    settings: Settings, store: Store, now: datetime | None = None
) -> BounceTokens | None:
    """``bounce_tokens`` with the list's key (the setting, or the database's); with ``now``
    (reading bounces), tokens of each previous key verify for ``previous_secret_keys_days``
    after it was first seen listed as previous, as unsubscribe links do
    (``accepted_previous_keys``, which ``daemon.web.token_codec`` uses too)."""
    previous = [] if now is None else accepted_previous_keys(settings, store, now)
    return bounce_tokens(settings, secret_key(settings, store), previous)


def accepted_previous_keys(settings: Settings, store: Store, now: datetime) -> list[bytes]:
    """Each key of ``previous_secret_keys`` still accepted at ``now``: until
    ``previous_secret_keys_days`` after it was first seen listed as previous (that moment
    recorded in the database on first sight, so nobody has to write a date down when
    rotating): the rule for unsubscribe links and bounce tokens alike."""
    from ..subscribers.tokens import key_fingerprint

    accepted: list[bytes] = []
    for old in settings.previous_secret_keys:
        raw = old.get_secret_value().encode()
        name = f"key_retired.{key_fingerprint(raw)}"
        retired = store.meta(name)
        if retired is None:
            store.set_meta(name, now.isoformat())
            retired = now.isoformat()
        if now - datetime.fromisoformat(retired) <= timedelta(
            days=settings.previous_secret_keys_days
        ):
            accepted.append(raw)
    return accepted
