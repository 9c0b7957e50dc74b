"""The command line: ``newsletter COMMAND``, one module per group of commands.

An entry point. May import: the job, settings, every stage, the daemon; nothing imports it
but ``newsletter.__main__`` (and the ``newsletter`` script).
"""

from .main import main

__all__ = ["main"]
