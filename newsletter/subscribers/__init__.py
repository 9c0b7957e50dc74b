"""Subscribers: who is on the list, and every change to it.

Owns the CSV (``csvfile`` reads and validates it as a stream, ``edits`` rewrites it
atomically), imports from other services (``imports``), list changes under the run lock
with who left remembered (``changes``), the rule that the record of who left wins over
the CSV (``consent``), unsubscribe tokens (``tokens``) and double opt-in sign-up
(``signup``).

May import: store.
"""
