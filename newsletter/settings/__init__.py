"""Settings: the configuration a user writes, and its translation for each stage.

Owns the ``Settings`` class and how it is read (``config``), the forms values must have
(``checks``), where each value came from for error messages (``origins``), the syntax and
meaning of crontab expressions and durations (``cron``), edits to ``newsletter.toml``
(``configfile``), and the plain values each stage takes (``values``).

May import: every stage (their value types and validators); never the job or an entry
point. Stages never import it: they take plain values.
"""

from .checks import SMTP_SCHEMES
from .config import DEFAULT_CONFIG, Settings, SourceSpec, load_settings, split_listen

__all__ = [
    "DEFAULT_CONFIG",
    "SMTP_SCHEMES",
    "Settings",
    "SourceSpec",
    "load_settings",
    "split_listen",
]
