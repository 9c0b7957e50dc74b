"""The DKIM private key file: read it into a signer, or create one (``dkim keygen``)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from ..errors import ConfigError, InputError
from .dkim import DkimKeyError, DkimSigner, new_private_key, txt_strings


def load_signer(
    key_path: Path | None, selector: str | None, domain: str, now: datetime | None
) -> DkimSigner | None:
    """A signer with the PEM private key at ``key_path`` for ``selector._domainkey.domain``
    (``t=`` set from ``now``), or None when neither a key nor a selector is given.

    Raises:
        ConfigError: only one of the two is given, or the key file is unreadable or not an
            RSA/Ed25519 PEM private key; the message names the setting to fix.
    """
    if key_path is None and selector is None:
        return None
    if key_path is None or not selector:
        missing = "dkim_private_key" if key_path is None else "dkim_selector"
        raise ConfigError(
            f"DKIM is half configured: {missing} is not set",
            "set dkim_private_key and dkim_selector (dkim_domain defaults to the From domain)",
        )
    try:
        pem = key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"{key_path}: cannot read the DKIM private key: {exc.strerror}",
            "create one with 'newsletter dkim keygen' or fix dkim_private_key",
        ) from None
    timestamp = int(now.timestamp()) if now is not None else None
    try:
        return DkimSigner(pem, selector, domain, timestamp)
    except DkimKeyError as exc:
        raise ConfigError(
            f"{key_path}: {exc}", "use a PEM file from 'newsletter dkim keygen'"
        ) from None


def keygen(path: Path, kind: str, selector: str, domain: str) -> str:
    """Write a new private key to ``path`` (mode 0600, never over an existing file) and
    return the DNS record to publish, in zone-file syntax.

    Raises:
        InputError: the file exists or cannot be written.
    """
    pem, record = new_private_key(kind)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError(
            f"{path}: already exists; not overwritten",
            "choose another --out (and a new selector) to rotate keys",
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot write the key: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return f"{selector}._domainkey.{domain}. IN TXT {txt_strings(record)}"
