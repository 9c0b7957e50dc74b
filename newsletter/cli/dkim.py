"""``newsletter dkim keygen``: create a DKIM signing key and print the DNS record to publish."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from ..settings import Settings


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    dkim = commands.add_parser("dkim", help="DKIM signing keys")
    dsub = dkim.add_subparsers(dest="action", required=True, metavar="ACTION")
    gen = dsub.add_parser("keygen", help="create a private key; print the DNS record")
    gen.add_argument("--selector", default=None, help="default: the dkim_selector setting")
    gen.add_argument("--domain", default=None, help="default: dkim_domain or the From domain")
    gen.add_argument("--type", choices=["rsa", "ed25519"], default="rsa", dest="kind")
    gen.add_argument("--out", type=Path, help="key file (default: dkim/<selector>.pem)")


def run(args: argparse.Namespace, settings: Settings, now: datetime) -> int:
    selector = args.selector or settings.dkim_selector or f"nl{now:%Y%m}"
    domain = args.domain or settings.dkim_domain or settings.from_domain
    out = args.out or Path("dkim") / f"{selector}.pem"
    from ..mail.dkimkeys import keygen  # cryptography: only for this command

    record = keygen(out, args.kind, selector, domain)
    print(record)
    _say(
        f"private key written to {out} (mode 0600). Publish the TXT record above, then set "
        f'dkim_private_key = "{out}" and dkim_selector = "{selector}"'
    )
    return 0


def _say(message: str) -> None:
    print(f"newsletter: {message}", file=sys.stderr)


HANDLERS = {"dkim": run}
