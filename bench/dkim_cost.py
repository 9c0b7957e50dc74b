"""What DKIM signing costs per message, on a real edition built from seeds/.

    python bench/dkim_cost.py [N]

Prints, per message: building it unsigned; building and signing it with our signer
(RSA-2048 and Ed25519); dkimpy's own ``dkim.sign`` on the same bytes (the reference
implementation, for comparison); and dkimpy's ``dkim.verify`` as a correctness check.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import dkim

from newsletter.collect.config import SourceSpec
from newsletter.collect.folders import collect_sources
from newsletter.edition.compose import compose
from newsletter.edition.render import ListInfo, render_edition
from newsletter.edition.templates import load_templates
from newsletter.mail.dkim import SIGNED_HEADERS, DkimSigner, new_private_key
from newsletter.mail.personalize import MailContext, MessageTemplate
from newsletter.models import Subscriber

ROOT = Path(__file__).resolve().parent.parent
DATE = "Fri, 27 Nov 2026 07:00:00 +0000"


def per_message(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - start) / n * 1e3


def main(n: int) -> None:
    found = collect_sources([SourceSpec(path=ROOT / "seeds")], UTC)
    edition = compose(found.articles, day=date(2026, 11, 27), number=1, max_articles=20)
    assert edition is not None
    info = ListInfo("Daily Newsletter", "1 Example Street", "https://news.example.com", "n@e.com")
    rendered = render_edition(edition, load_templates(None), info, ["city"])
    ctx = MailContext(
        "Daily Newsletter <news@example.com>",
        "daily.example.com",
        "Daily Newsletter",
        "example.com",
        "news@example.com",
        "https://news.example.com",
        b"k" * 32,
        "20261127.1",
    )
    subs = [
        Subscriber(f"reader{i}@example.com", f"Reader {i}", fields={"city": "Bern"})
        for i in range(64)
    ]
    plain = MessageTemplate(rendered, ctx)
    size = len(plain.build(subs[0], DATE)[1])
    print(f"message size {size / 1024:.1f} KB, {n} messages per figure")
    base = per_message(lambda i: plain.build(subs[i % 64], DATE), n)
    print(f"  build, unsigned                  {base:7.3f} ms")
    now = int(datetime(2026, 11, 27, 7, tzinfo=UTC).timestamp())
    for kind in ("rsa", "ed25519"):
        _one_kind(kind, rendered, ctx, subs, base, n, now)


def _one_kind(kind, rendered, ctx, subs, base, n, now) -> None:  # type: ignore[no-untyped-def]
    pem, record = new_private_key(kind)
    signer = DkimSigner(pem, "s", "example.com", now)
    signed = MessageTemplate(rendered, replace(ctx, dkim=signer))
    total = per_message(lambda i: signed.build(subs[i % 64], DATE), n)
    label = "RSA-2048" if kind == "rsa" else "Ed25519 "
    print(f"  build + sign, ours, {label}     {total:7.3f} ms  (signing {total - base:.3f} ms)")
    data = MessageTemplate(rendered, ctx).build(subs[0], DATE)[1]
    key = pem if kind == "rsa" else _dkimpy_ed25519(pem)
    options = {
        "canonicalize": (b"relaxed", b"relaxed"),
        "include_headers": [h.encode() for h in SIGNED_HEADERS],
        "signature_algorithm": b"rsa-sha256" if kind == "rsa" else b"ed25519-sha256",
    }
    ref = per_message(lambda i: dkim.sign(data, b"s", b"example.com", key, **options), 20)
    print(f"  dkimpy.sign, {label}             {ref:7.3f} ms")
    ok = dkim.verify(signed.build(subs[1], DATE)[1], dnsfunc=lambda *_, **__: record.encode())
    print(f"  dkimpy.verify of ours            {'ok' if ok else 'FAILED'}")


def _dkimpy_ed25519(pem: bytes) -> bytes:
    import base64

    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(pem, None)
    raw = key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)
