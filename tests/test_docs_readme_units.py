"""The systemd units the README gives work as written: `systemd-analyze verify` accepts them
without a warning (paths swapped for ones that exist here)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
UNIT = re.compile(r"`/etc/systemd/system/([\w.-]+)`[^`]*?```ini\n(.*?)```", re.S)


def units() -> dict[str, str]:
    return dict(UNIT.findall(README.read_text(encoding="utf-8")))


def test_the_readme_gives_a_timer_with_persistent_and_its_service_and_the_daemon() -> None:
    found = units()
    assert set(found) == {"newsletter-send.service", "newsletter-send.timer", "newsletter.service"}
    assert "Persistent=true" in found["newsletter-send.timer"]
    assert "newsletter send" in found["newsletter-send.service"]
    assert "serve" in found["newsletter.service"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    for name, body in units().items():
        body = body.replace("/srv/newsletter/.venv/bin/newsletter", shutil.which("true") or "")
        (tmp_path / name).write_text(body.replace("/srv/newsletter", str(tmp_path)))
    names = sorted(str(p) for p in tmp_path.iterdir())
    check = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *names],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # a bad value is only a warning on stderr (exit 0): both must be clean
    assert (check.returncode, check.stderr) == (0, ""), check.stderr
