"""The jobs that wire the stages: the daily send (``send``: collect → freeze → personalize
→ deliver → finish, one function per step) and collection alone (``collecting``).

The entry points import from here; what they name is re-exported below.
"""

from .collecting import collect_locked, run_collect
from .send import check_store, collect, edition_day, freeze, proof, run_send, send_edition

__all__ = [
    "check_store",
    "collect",
    "collect_locked",
    "edition_day",
    "freeze",
    "proof",
    "run_collect",
    "run_send",
    "send_edition",
]
