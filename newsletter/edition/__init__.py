"""Edition: which articles, in which order, rendered once for everybody.

Owns composing (``compose``, pure), rendering with Jinja and premailer (``render``,
``templates``; ``fitting`` sizes pictures and headlines for the templates) into a
``RenderedEdition`` (``rendered``), section variants (``variants``), freezing the day's
edition before a send (``freeze``, ``plan``), the web archive (``archive``), preview files
(``preview``), the headless browser (``browser``) and the sign-up pages and messages
(``notices``).

May import: store, subscribers.
"""
