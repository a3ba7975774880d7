"""The README and docs/ as a newcomer meets them: the README opens with the two commands (the
second is what CI runs), and every link points at a file in this repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_readme_opens_with_the_demo_and_the_test_command() -> None:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```sh\n(.*?)\n```", text, re.M | re.S)
    assert blocks[:2] == [
        "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/s1uvm demo",
        "sh tools/test.sh",
    ]
    assert text.index(blocks[1]) < text.index("\n## ")  # before any section
    assert "exec sh tools/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_every_link_stays_inside_the_repository_and_resolves() -> None:
    checked = 0
    for page in PAGES:
        text = page.read_text()
        # The project's reference folder beside a developer's checkout is not in a user's clone.
        assert "../" + "shared" not in text, page.name
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "#")):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(ROOT), f"{page.name}: {target}"
            assert path.exists(), f"{page.name}: {target}"
            checked += 1
    assert checked >= 10
