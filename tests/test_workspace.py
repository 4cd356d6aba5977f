"""The workspace's own rules: checks that `uv lock` cannot make for us."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _load(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def _members() -> dict[str, Path]:
    """Workspace members by canonical name, found the way uv finds them."""
    globs = _load(ROOT / "pyproject.toml")["tool"]["uv"]["workspace"]["members"]
    found = {}
    for pattern in globs:
        for d in sorted(ROOT.glob(pattern)):
            if (d / "pyproject.toml").is_file():
                found[canonicalize_name(_load(d / "pyproject.toml")["project"]["name"])] = d
    return found


MEMBERS = _members()


def test_root_has_no_package_and_dev_group_lists_every_member():
    root = _load(ROOT / "pyproject.toml")
    assert "project" not in root, "the workspace root must stay a virtual root"
    dev = {canonicalize_name(Requirement(r).name) for r in root["dependency-groups"]["dev"]}
    assert set(MEMBERS) <= dev, f"dev group misses {set(MEMBERS) - dev}"
    sources = {canonicalize_name(k) for k in root["tool"]["uv"]["sources"]}
    assert set(MEMBERS) <= sources


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_sibling_ranges_admit_current_versions(name):
    """`uv lock` resolves workspace members from source and hides a stale range."""
    meta = _load(MEMBERS[name] / "pyproject.toml")
    project = meta["project"]
    reqs = [Requirement(r) for r in project.get("dependencies", [])]
    for extra in project.get("optional-dependencies", {}).values():
        reqs += [Requirement(r) for r in extra]
    for req in reqs:
        sibling = canonicalize_name(req.name)
        if sibling not in MEMBERS:
            continue
        version = _load(MEMBERS[sibling] / "pyproject.toml")["project"]["version"]
        assert req.specifier.contains(version, prereleases=True), (
            f"{name} requires {req}, which excludes {sibling} {version}"
        )
        assert str(req.specifier), f"{name}: pin a version range for {sibling}"
        sources = meta.get("tool", {}).get("uv", {}).get("sources", {})
        assert sources.get(req.name, {}).get("workspace") is True, (
            f"{name}: [tool.uv.sources] {req.name} = {{ workspace = true }} is missing"
        )


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_member_layout(name):
    d = MEMBERS[name]
    module = name.replace("-", "_")
    src = d / "src" / module
    assert (d / "README.md").is_file()
    assert (src / "py.typed").is_file(), "typed packages ship py.typed"
    init = ast.parse((src / "__init__.py").read_text())
    names = {t.id for node in init.body if isinstance(node, ast.Assign | ast.AnnAssign)
             for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
             if isinstance(t, ast.Name)}
    assert "__all__" in names, f"{src / '__init__.py'} must define __all__"
