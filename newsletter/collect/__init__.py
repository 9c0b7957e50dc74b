"""Collect: every source of articles into the store.

Owns the article folders and files (``folders``, ``article_file``), feeds (``fetch`` over
HTTP, ``feedxml`` checks, ``feeds`` parsing, ``feedtext`` feed HTML to text), OPML
(``opml``), what it is told (``config``), and the collect step (``collector``).

May import: store.
"""
