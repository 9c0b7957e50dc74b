"""Store: the SQLite database, the truth for what was collected and what was sent.

Owns the schema and its migrations, articles and frozen editions (``database``), the
database file itself (``dbfile``: owner-only, never silently replaced by a new one), what
a failed write means to a user (``failures``), the delivery ledger and its journal
(``ledger``), feed state (``feeds``), the picture sizes collection measured (``images``),
who left (``suppressions``), who joined and the sign-up limits' counts (``consents``),
editors' proofs and decisions (``reviews``), and the run lock beside the database
(``lock``).

May import: no other stage.
"""
