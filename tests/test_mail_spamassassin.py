"""The default edition as SpamAssassin scores it: Debian's ``spamassassin`` with local
tests only (``-L``: no DNS blocklists, no network), on a message from the Maildir outbox.

Skipped, with the reason, only where SpamAssassin is not installed (.ci/run installs it).
"""

from __future__ import annotations

import mailbox
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Project

SPAMASSASSIN = shutil.which("spamassassin")
pytestmark = pytest.mark.skipif(
    SPAMASSASSIN is None,
    reason="SpamAssassin is not installed (Debian: apt-get install spamassassin; .ci/run does it)",
)
# A line of the report's table: " 0.7 HTML_FONT_LOW_CONTRAST BODY: HTML font color ..."
RULE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z][A-Z0-9_]+)\s", re.MULTILINE)


def scored_rules(message: bytes, home: Path) -> dict[str, float]:
    """Every rule SpamAssassin's local tests fire on ``message``, with its points."""
    assert SPAMASSASSIN is not None
    home.mkdir(exist_ok=True)
    report = subprocess.run(
        [SPAMASSASSIN, "-L", "-t"],
        input=message,
        capture_output=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},  # its user_prefs go to the temp dir
        check=True,
    ).stdout.decode("utf-8", "replace")
    table = report.split("Content analysis details:", 1)[1]
    return {name: float(points) for points, name in RULE.findall(table)}


def test_the_default_edition_fires_no_positive_spamassassin_rule(project: Project) -> None:
    run = project.run("send")
    assert run.code == 0, run.err
    box = mailbox.Maildir(project.path / "outbox", create=False)
    message = next(iter(box)).as_bytes()

    rules = scored_rules(message, project.path / "sa-home")

    assert "HTML_MESSAGE" in rules  # SpamAssassin read the HTML part
    assert {name: pts for name, pts in rules.items() if pts > 0} == {}
