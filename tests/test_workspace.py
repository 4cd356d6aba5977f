"""The workspace's own rules: checks that `uv lock` cannot make for us.

Declared sibling dependencies are exactly the siblings a member's source imports:

import-linter forbids the arrows the architecture rules out; it cannot see a declared
dependency that is never used, which still makes `pip install` pull a whole sibling (and
its torch or trl) for nothing, or an import of a sibling the wheel does not declare, which
works in the workspace and fails in a fresh environment. Both directions are checked here
from the source (`src/` only: tests may use the dev group). See docs/architecture.md.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
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


def _import_package(member: Path) -> str:
    """The one top-level package under `src/` (lm-evaluate's is lm_evaluate)."""
    packages = [p.name for p in (member / "src").iterdir() if (p / "__init__.py").is_file()]
    assert len(packages) == 1, f"{member / 'src'}: expected one package, found {packages}"
    return packages[0]


MEMBERS = _members()
MODULE_TO_MEMBER = {_import_package(d): name for name, d in MEMBERS.items()}


def declared_siblings(pyproject: Path) -> set[str]:
    """Workspace members named in [project.dependencies] or an optional extra."""
    project = _load(pyproject)["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    names = {canonicalize_name(Requirement(r).name) for r in reqs}
    return names & set(MEMBERS)


def _imported_modules(path: Path) -> Iterator[tuple[str, int]]:
    """(top-level module, line) of every absolute import in a file, nested ones included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def _show(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def imported_siblings(member: Path) -> dict[str, str]:
    """Sibling member → the first `file:line` of `src/` that imports it (itself excluded)."""
    own = _import_package(member)
    found: dict[str, str] = {}
    for path in sorted((member / "src").rglob("*.py")):
        for module, line in _imported_modules(path):
            sibling = MODULE_TO_MEMBER.get(module)
            if sibling is not None and module != own:
                found.setdefault(sibling, f"{_show(path)}:{line}")
    return found


def test_every_member_has_one_import_package():
    assert len(MODULE_TO_MEMBER) == len(MEMBERS)


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_declared_siblings_are_the_imported_ones(name):
    member = MEMBERS[name]
    declared = declared_siblings(member / "pyproject.toml")
    imported = imported_siblings(member)
    unused = sorted(declared - set(imported))
    undeclared = sorted(f"{s} ({imported[s]})" for s in set(imported) - declared)
    problems = []
    if unused:
        problems.append(f"declares {', '.join(unused)}, which src/ never imports: drop or use it")
    if undeclared:
        problems.append(f"imports undeclared {', '.join(undeclared)}: add it to dependencies")
    assert not problems, f"{_show(member / 'pyproject.toml')}: " + "; ".join(problems)


def test_the_check_sees_both_directions(tmp_path):
    """A member declaring a sibling it never imports, and importing one it never declares."""
    pkg = tmp_path / "src" / "lm_fake"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("def f():\n    from lm_dist.config import TrainConfig\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "lm-fake"\nversion = "0"\ndependencies = ["lm-tok>=0.1", "numpy"]\n')
    assert declared_siblings(tmp_path / "pyproject.toml") == {"lm-tok"}
    assert imported_siblings(tmp_path) == {"lm-dist": f"{pkg / '__init__.py'}:2"}
