"""Mail: a rendered edition and a subscriber become message bytes.

Owns personalisation into pre-built MIME (``personalize``: List-Id, List-Unsubscribe,
Message-ID), header values from data, folded and RFC 2047-encoded (``headers``), DKIM
signing (``dkim``) and its key files (``dkimkeys``), and one-off messages such as the
sign-up confirmation (``notice``), and per-recipient envelope senders for bounces
(``verp``).

May import: edition, subscribers.
"""
