"""The jobs that wire the stages: the daily send (``send``: collect → freeze → personalize
→ deliver → finish, one function per step), collection alone (``collecting``) and the
bounce mailbox (``bounces``).

The entry points import from here; what they name is re-exported below.
"""

from .bounces import bounces_locked, run_bounces
from .collecting import collect_locked, run_collect
from .send import check_store, collect, edition_day, freeze, proof, run_send, send_edition

__all__ = [
    "bounces_locked",
    "check_store",
    "collect",
    "collect_locked",
    "edition_day",
    "freeze",
    "proof",
    "run_bounces",
    "run_collect",
    "run_send",
    "send_edition",
]
