"""Bounces: delivery reports and complaints that come back after a send -> list changes.

Reads the bounce mailbox (``mailbox``: a Maildir; ``imap``: an IMAP folder), tells what
each message is (``classify``: RFC 3464 DSNs, the non-standard formats GNU Mailman's
detectors know, RFC 5965 ARF complaints, RFC 3834 auto-replies), believes only reports
about a message this list sent (``verify``: the VERP token of ``mail.verp``, or the
Message-ID the ledger recorded), and changes the list the way an unsubscribe does
(``apply``).

May import: store, subscribers, mail.
"""
