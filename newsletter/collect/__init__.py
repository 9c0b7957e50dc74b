"""Collect: every source of articles into the store.

Owns the article folders and files (``folders``, ``article_file``), feeds (``fetch`` over
HTTP, ``feedxml`` checks, ``feeds`` parsing with ``feeditems`` and ``jsonfeed``,
``feeddates`` dates as feeds write them, ``feedtext`` leads and images), each article's
picture size (``images``, fetched only outside the local network: ``outside``), the text
normaliser every source shares (``plaintext``), OPML (``opml``), what it is told
(``config``), and the collect step (``collector``, with what it took and did not:
``taken``).

May import: store.
"""
