"""newsletter: collect new articles, compose a Daily Newsletter edition, deliver it over SMTP.

A room per stage of the pipeline, in the order the job runs them::

    collect ─▶ store ─▶ edition ─▶ mail ─▶ delivery        subscribers: who gets it

``job`` runs the stages in order; ``cli`` and ``daemon`` are the entry points; ``settings``
reads the configuration and hands each stage its plain values; ``errors`` and ``models``
are shared by all. Each subpackage's docstring says what it owns and what it may import.
"""

__version__ = "0.1.0"
