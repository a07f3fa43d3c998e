"""Play deploy/kubernetes/overlays/podman on this machine with `podman kube play`, or take it down.

    python scripts/kube_play.py up [--image TAG] [--port N] [--name NAME]
    python scripts/kube_play.py down [--name NAME]

`up` renders the overlay (`kubectl kustomize`), gives the pod this image, host port (on 127.0.0.1)
and name, and plays it. Podman 4 plays no Secret object: it reads a pod's Secret from its own
secret store, as a JSON object of base64 values, so `up` puts the rendered Secret there first and
plays the rest. The manifest played is kept in build/kube/NAME.yaml, for `down`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
OVERLAY = ROOT / "deploy" / "kubernetes" / "overlays" / "podman"
PLAYED = ROOT / "build" / "kube"


def rendered() -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        sys.exit("kube_play.py: needs kubectl (its kustomize renders the overlay)")
    out = subprocess.run([kubectl, "kustomize", str(OVERLAY)], capture_output=True, text=True, check=True)
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def for_this_run(docs: list[dict[str, Any]], image: str | None, port: int, name: str) -> tuple[list, dict]:
    """The overlay with this image, port and name; and its Secret, apart (named after the pod too)."""
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    played = [d for d in docs if d["kind"] != "Secret"]
    [deployment] = [d for d in played if d["kind"] == "Deployment"]
    deployment["metadata"]["name"] = name
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    if image:
        server["image"] = image
    server["ports"][0]["hostPort"] = port
    secret["metadata"]["name"] = f"{name}-keys"
    for source in server["envFrom"]:
        if "secretRef" in source:
            source["secretRef"]["name"] = secret["metadata"]["name"]
    return played, secret


def podman(*args: str) -> None:
    subprocess.run(["podman", *args], check=True, stdout=subprocess.DEVNULL)


def up(image: str | None, port: int, name: str) -> None:
    played, secret = for_this_run(rendered(), image, port, name)
    PLAYED.mkdir(parents=True, exist_ok=True)
    manifest = PLAYED / f"{name}.yaml"
    manifest.write_text(yaml.safe_dump_all(played), encoding="utf-8")
    data = PLAYED / f"{name}-keys.json"
    data.write_text(json.dumps(secret["data"]), encoding="utf-8")
    try:
        # Podman 4.3 has no `secret create --replace`: a secret left by an interrupted run goes first.
        subprocess.run(["podman", "secret", "rm", secret["metadata"]["name"]], check=False, capture_output=True)
        podman("secret", "create", secret["metadata"]["name"], str(data))
    finally:
        data.unlink()
    podman("kube", "play", str(manifest))
    print(f"kube_play.py: pod {name}-pod-0 is up; http://127.0.0.1:{port}/readyz")


def down(name: str) -> None:
    manifest = PLAYED / f"{name}.yaml"
    if manifest.exists():
        subprocess.run(["podman", "kube", "down", str(manifest)], check=False, stdout=subprocess.DEVNULL)
        manifest.unlink()
    subprocess.run(["podman", "secret", "rm", f"{name}-keys"], check=False, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--image", help="the server's image (default: the overlay's, localhost/portkey-stub:latest)")
    parser.add_argument("--port", type=int, default=8787, help="the host port, on 127.0.0.1 (default 8787)")
    parser.add_argument("--name", default="portkey-stub", help="the Deployment's name; the pod is NAME-pod-0")
    args = parser.parse_args(argv)
    if args.action == "up":
        up(args.image, args.port, args.name)
    else:
        down(args.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
