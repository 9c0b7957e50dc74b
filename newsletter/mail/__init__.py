"""Mail: a rendered edition and a subscriber become message bytes.

Owns personalisation into pre-built MIME (``personalize``: headers, RFC 2047, List-Id,
List-Unsubscribe), DKIM signing (``dkim``) and its key files (``dkimkeys``).

May import: edition, subscribers.
"""
