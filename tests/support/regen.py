"""A copy of the project with an edited spec, taken and regenerated as a user would, and its server started.

For the spec-change harness tests (tests/harness/test_spec_changes.py, test_spec_moves.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from portkey_completions.testing.serving import stub
from support import AUTH, COMPLETIONS, ROOT

SPEC = "openapi/portkey-completions.yaml"
BODY = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 12, "seed": 7}
BIN = Path(sys.executable).parent
PUBLISHED = ROOT.parent / "shared" / "specs" / "portkey-openapi"  # whole files as Portkey publishes them


OPERATIONS = "overrides/operations.yaml"


def copy_project(tmp_path: Path, serve: tuple[str, ...] = ()) -> Path:
    """A copy of the project (what `make update-spec` and `make gen` read and write) serving `serve` too.

    `serve`: operations added to the copy's overrides/operations.yaml, the one file of overrides/ a
    user edits for a new operation.
    """
    project = tmp_path / "project"
    for part in ("openapi", "overrides", "scripts", "tests"):
        shutil.copytree(ROOT / part, project / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    if serve:
        listed = yaml.safe_load((project / OPERATIONS).read_text(encoding="utf-8"))
        listed["served"] += list(serve)
        (project / OPERATIONS).write_text(yaml.safe_dump(listed, sort_keys=False), encoding="utf-8")
    return project


def run(project: Path, *command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """A command in the copy (`make update-spec`'s and `make gen`'s scripts), with the venv's tools first."""
    env = {**project_env(project), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(list(command), cwd=project, env=env, capture_output=True, text=True, timeout=timeout)


def regenerated(tmp_path: Path, edit: Callable[[dict[str, Any]], str | None], serve: tuple[str, ...] = ()) -> Path:
    """A copy of the project whose spec `edit` changed, regenerated; overrides/ as it is. `edit` changes the
    spec in place, or returns the published text itself (a redefined anchor, say).

    `serve`: operations the edit adds that the copy serves, added to its overrides/operations.yaml
    (the one file of overrides/ a user edits for a new operation).
    """
    project = copy_project(tmp_path, serve)
    spec = yaml.safe_load((project / SPEC).read_text(encoding="utf-8"))
    text = edit(spec)  # the edited data, or the published text itself (a shape only text has)
    published = tmp_path / "published.yaml"  # the new spec as a user receives it
    if not isinstance(text, str):
        text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    published.write_text(text, encoding="utf-8")
    said = []
    for command in (
        [sys.executable, "scripts/update_spec.py", str(published), "--source", "a test's edit"],
        ["scripts/gen.sh"],
    ):
        result = run(project, *command, timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        said.append(result.stderr)
    (tmp_path / "regen.stderr").write_text("".join(said), encoding="utf-8")  # what taking it said, for a test
    changed = _differs(ROOT / "overrides", project / "overrides")
    assert (project / "overrides").exists() and changed == ([OPERATIONS.removeprefix("overrides/")] if serve else [])
    return project


def _differs(a: Path, b: Path) -> list[str]:
    return [
        str(p.relative_to(a))
        for p in a.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.read_bytes() != (b / p.relative_to(a)).read_bytes()
    ]


def project_env(project: Path) -> dict[str, str]:
    """The copy's code first on the path: its overrides/ (unchanged) and its regenerated generated/."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(project / "overrides"), str(project / "generated")])}


@contextmanager
def serving(project: Path, *flags: str, log: Path | None = None) -> Iterator[str]:
    with log.open("w") if log else open(os.devnull, "w") as out:
        with stub(*flags, env=project_env(project), output=out) as url:
            yield url


def operation(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["paths"]["/completions"]["post"]


# Tests no spec edit can move, left out of a copy's run (each copy's tiers cost CI a minute and a
# half): the engine's, which an import contract keeps from reading the spec, and spec-diff's, on
# specs of its own; and the `slow` statistical draws.
SPEC_FREE = ("tests/unit/test_engine.py", "tests/unit/test_spec_diff.py")


def suite(project: Path, *paths: str) -> None:
    """The project's own tests, run in the copy: they check the spec as it now is, with no constant to edit."""
    ignored = [f"--ignore={path}" for path in SPEC_FREE]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *ignored, *paths],
        cwd=project, env=project_env(project), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def python(project: Path, code: str) -> str:
    """Run `code` with the copy's packages (the regenerated client among them); its output."""
    run = subprocess.run([sys.executable, "-c", code], env=project_env(project), capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stdout


def fixture_test(project: Path, tmp_path: Path, code: str) -> None:
    """A test file that uses the `portkey_stub` fixture, run against the copy's code: it must pass."""
    path = tmp_path / "users" / "test_fixture.py"
    path.parent.mkdir(exist_ok=True)
    path.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)],
        cwd=path.parent, env=project_env(project), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def base_path(project: Path) -> str:
    """The copy's base path, as its own spec now says it (a published file taken may move it)."""
    return python(project, "from portkey_completions.core import spec; print(spec.base_path())").strip()


def both_paths(url: str, body: dict[str, Any], path: str = COMPLETIONS) -> list[httpx.Response]:
    """The same request on the fast path (Content-Length) and on connexion's (a chunked body)."""
    raw = json.dumps(body).encode()
    headers = {**AUTH, "content-type": "application/json"}
    return [
        httpx.post(f"{url}{path}", content=raw, headers=headers),
        httpx.post(f"{url}{path}", content=iter([raw]), headers=headers),
    ]
