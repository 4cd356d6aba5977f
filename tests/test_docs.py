"""The design document lives in the repository, and the docs' links lead somewhere."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *ROOT.glob("packages/*/README.md"),
               *ROOT.glob("apps/*/README.md"), *ROOT.glob("docs/*.md")])
# [text](target): a target without a scheme or a leading '#' is a path in the checkout.
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    suffixes = {".py", ".md", ".toml", ".yaml", ".yml", ".txt", ".cfg", ".sh", ""}
    return [ROOT / p for p in out.split("\0") if p and Path(p).suffix in suffixes]


def test_design_document_is_in_the_repository():
    assert (ROOT / "docs" / "architecture.md").is_file()
    stale = [str(p.relative_to(ROOT)) for p in _tracked_text_files()
             if p.is_file() and p != Path(__file__).resolve()
             and "DESIGN.md" in p.read_text(encoding="utf-8", errors="replace")]
    assert not stale, f"these still point at DESIGN.md, now docs/architecture.md: {stale}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same page
        path = (doc.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: links to missing paths: {broken}"
