"""newsletter: collect new articles, compose a Daily Newsletter edition, deliver it over SMTP."""

__version__ = "0.1.0"
