"""Every golden message scores at most 0.5 in a local SpamAssassin run.

Alert mail that scores points lands in spam folders once a few more rules fire on the way
(issue 11: invisible preheader text, a ``newswatch.invalid`` Message-ID). The messages are
composed from the golden renderings in tests/data/render and scored with ``spamassassin -L
-t`` (local tests only: no network, no DNS blocklists). Skipped where SpamAssassin is not
installed (Debian: ``apt-get install spamassassin``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from alerts.render.mime import compose_email

GOLDEN = Path(__file__).resolve().parent / "data" / "render"
MAX_SCORE = 0.5
SENDER = "Newswatch <newswatch@example.org>"
# The score and the rest of the (folded) header, which names the tests that fired.
_STATUS = re.compile(
    r"^X-Spam-Status: (?:Yes|No), score=(-?[0-9.]+)([^\n]*(?:\n[ \t][^\n]*)*)", re.M
)

pytestmark = pytest.mark.skipif(
    shutil.which("spamassassin") is None,
    reason="spamassassin is not installed (Debian: apt-get install spamassassin)",
)


def golden_messages(folder: Path) -> list[tuple[str, Path]]:
    """Each golden rendering as a complete message file in ``folder``."""
    cases = sorted(p.name.removesuffix(".subject.txt") for p in GOLDEN.glob("*.subject.txt"))
    assert len(cases) >= 9, "golden renderings are missing"
    written = []
    for case in cases:
        for variant, unsubscribe in (("", None), ("+mute_url", "mailto:admin@example.org")):
            message = compose_email(
                subject=(GOLDEN / f"{case}.subject.txt").read_text(encoding="utf-8").strip(),
                text=(GOLDEN / f"{case}.txt").read_text(encoding="utf-8"),
                html=(GOLDEN / f"{case}.html").read_text(encoding="utf-8"),
                key=f"scam-crackdown.42.{case}",
                sender=SENDER,
                to=["team@example.org"],
                headers={"X-Newswatch-Rule": "scam-crackdown"},
                unsubscribe=unsubscribe,
            )
            path = folder / f"{case}{variant}.eml"
            path.write_bytes(message.as_bytes())
            written.append((case + variant, path))
    return written


def test_golden_messages_score_low_in_spamassassin(tmp_path: Path) -> None:
    messages = golden_messages(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    # One run for all files: SpamAssassin's start-up dominates the time.
    run = subprocess.run(
        ["spamassassin", "-L", "-t", "--cf=use_bayes 0", *(str(p) for _, p in messages)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
        check=False,
    )
    statuses = _STATUS.findall(run.stdout)
    assert len(statuses) == len(messages), run.stderr[-2000:]
    scores = {name: float(score) for (name, _), (score, _) in zip(messages, statuses, strict=True)}
    high = {
        name: f"{score} ({' '.join(tests.split())})"
        for (name, _), (score, tests) in zip(messages, statuses, strict=True)
        if float(score) > MAX_SCORE
    }
    assert not high, f"SpamAssassin scores above {MAX_SCORE}: {high}"
    assert max(scores.values()) <= MAX_SCORE
