"""Delivery: message bytes to the relay, every outcome recorded.

Owns the send loop (``sendloop``: connections, retries, pauses, the Maildir outbox), the
SMTP relay and its pipelined session (``relay``, ``smtpsession``), rate limits
(``throttle``), the send's bookkeeping against the ledger (``sender``) and a run's
summary (``summary``).

May import: store, subscribers, edition, mail.
"""
