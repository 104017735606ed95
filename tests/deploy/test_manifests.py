"""deploy/k8s, rendered by kustomize: what an operator relies on in both overlays."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.topology import SERVICES
from eventing.settings import RuntimeSettings
from services.gateway.settings import GatewaySettings

ROOT = Path(__file__).resolve().parent.parent.parent
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ["local", "production"]
AUTOSCALED = {"gateway", "voting"}
# The Secrets production expects to exist, as deploy/k8s/README.md lists them.
EXTERNAL_SECRETS = {
    "livevote-connections",
    "livevote-jwt",
    "livevote-admin",
    "livevote-stripe",
    "livevote-firebase",
}

Manifest = dict[str, Any]


def tool(name: str) -> Path:
    """A tool that scripts/stack.sh installs (kustomize, promtool)."""
    tools = Path(
        os.environ.get("LIVEVOTE_TOOLS_DIR", Path.home() / ".local" / "share" / "livevote" / "bin")
    )
    binary = tools / name
    if not binary.exists():
        subprocess.run([str(ROOT / "scripts" / "stack.sh"), "install"], check=True)
    return binary


def kustomize() -> Path:
    return tool("kustomize")


@cache
def render(overlay: str) -> tuple[Manifest, ...]:
    built = subprocess.run(
        [str(kustomize()), "build", str(K8S / "overlays" / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(built) if doc)


def of_kind(manifests: tuple[Manifest, ...], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def containers(manifests: tuple[Manifest, ...]) -> Iterator[tuple[str, Manifest]]:
    for m in manifests:
        if m["kind"] in {"Deployment", "StatefulSet", "Job"}:
            spec = pod_spec(m)
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield m["metadata"]["name"], container


def env_names(manifests: tuple[Manifest, ...], container: Manifest) -> dict[str, str]:
    """Every plain environment variable a container gets, from its ConfigMaps and its env."""
    config_maps = of_kind(manifests, "ConfigMap")
    names: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            names.update(config_maps[source["configMapRef"]["name"]]["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            names[variable["name"]] = variable["value"]
    return names


def port_number(container: Manifest, port: int | str) -> int:
    if isinstance(port, int):
        return port
    numbers = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert numbers, f"probe port {port!r} is not declared by {container['name']}"
    return int(numbers[0])


@pytest.fixture(params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> tuple[Manifest, ...]:
    return render(request.param)


def test_every_service_runs_the_image_with_its_command_and_probes(
    manifests: tuple[Manifest, ...],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        (container,) = pod_spec(deployment)["containers"]
        assert container["image"].partition(":")[0] == "livevote"
        assert container["command"] == ["python", "-m", f"services.{name}"]
        liveness, readiness = container["livenessProbe"], container["readinessProbe"]
        assert liveness["httpGet"]["path"] == "/healthz"
        assert readiness["httpGet"]["path"] == "/readyz"
        env = env_names(manifests, container)
        probed = {port_number(container, p["httpGet"]["port"]) for p in (liveness, readiness)}
        if name == "gateway":
            # Its own API port answers the probes; a second server is not started.
            assert probed == {int(env["LIVEVOTE_PORT"])}
            assert env["LIVEVOTE_HOST"] == "0.0.0.0"
            assert "LIVEVOTE_HEALTH_PORT" not in env
        else:
            assert probed == {int(env["LIVEVOTE_HEALTH_PORT"])}
            assert env["LIVEVOTE_HEALTH_HOST"] == "0.0.0.0"
        assert env["LIVEVOTE_LOG_FORMAT"] == "json"


def test_every_service_is_scraped_for_metrics_where_its_probes_are_answered(
    manifests: tuple[Manifest, ...],
) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        (container,) = pod_spec(deployment)["containers"]
        probed = port_number(container, container["readinessProbe"]["httpGet"]["port"])
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        assert int(annotations["prometheus.io/port"]) == probed, name


def test_the_settings_in_the_manifests_are_ones_the_services_read(
    manifests: tuple[Manifest, ...],
) -> None:
    # A misspelt variable is silently ignored by the settings (extra="ignore").
    known = {f"LIVEVOTE_{field.upper()}" for field in GatewaySettings.model_fields}
    shared = {f"LIVEVOTE_{field.upper()}" for field in RuntimeSettings.model_fields}
    for name, container in containers(manifests):
        if name not in SERVICES:
            continue
        for variable in env_names(manifests, container):
            if variable.startswith("LIVEVOTE_"):
                assert variable in (known if name == "gateway" else shared), (name, variable)


def test_every_service_has_resources_a_security_context_and_a_grace_period(
    manifests: tuple[Manifest, ...],
) -> None:
    for name, deployment in of_kind(manifests, "Deployment").items():
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["automountServiceAccountToken"] is False
        assert 10 <= spec["terminationGracePeriodSeconds"] <= 120
        (container,) = spec["containers"]
        for bound in ("requests", "limits"):
            assert set(container["resources"][bound]) >= {"cpu", "memory"}, (name, bound)
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]


def test_every_service_has_a_disruption_budget_that_selects_its_pods(
    manifests: tuple[Manifest, ...],
) -> None:
    budgets = of_kind(manifests, "PodDisruptionBudget")
    for name, deployment in of_kind(manifests, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        selecting = [
            budget
            for budget in budgets.values()
            if budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(selecting) == 1, name
        # Never zero: a budget that allows no disruption blocks every node drain.
        assert selecting[0]["spec"]["maxUnavailable"] >= 1


def test_gateway_and_voting_scale_on_cpu_and_leave_the_count_to_the_autoscaler(
    manifests: tuple[Manifest, ...],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    autoscalers = of_kind(manifests, "HorizontalPodAutoscaler")
    targets = {hpa["spec"]["scaleTargetRef"]["name"]: hpa for hpa in autoscalers.values()}
    assert set(targets) == AUTOSCALED
    for name, hpa in targets.items():
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        # A fixed count would be put back on every apply, undoing the autoscaler.
        assert "replicas" not in deployments[name]["spec"]


def test_replicas_of_the_services_without_an_autoscaler(
    manifests: tuple[Manifest, ...],
) -> None:
    deployments = of_kind(manifests, "Deployment")
    # Timers are claimed with a lease: a second scheduler keeps them firing.
    assert deployments["scheduler"]["spec"]["replicas"] >= 2
    assert deployments["wallet"]["spec"]["replicas"] == 2
    assert deployments["notifier"]["spec"]["replicas"] == 2


def test_the_gateway_service_reaches_the_api_port(manifests: tuple[Manifest, ...]) -> None:
    service = of_kind(manifests, "Service")["gateway"]
    gateway = of_kind(manifests, "Deployment")["gateway"]
    (container,) = pod_spec(gateway)["containers"]
    assert service["spec"]["selector"].items() <= gateway["spec"]["selector"]["matchLabels"].items()
    (port,) = service["spec"]["ports"]
    assert port_number(container, port["targetPort"]) == 8000


def test_every_image_is_tagged(manifests: tuple[Manifest, ...]) -> None:
    images = [container["image"] for _, container in containers(manifests)]
    images += [m["spec"]["image"] for m in manifests if m["kind"] == "RabbitmqCluster"]
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and tag and "/" not in tag and tag != "latest", image


def test_production_carries_no_secret_value() -> None:
    manifests = render("production")
    assert of_kind(manifests, "Secret") == {}
    text = yaml.safe_dump_all(manifests)
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), "a URL with credentials"
    for config_map in of_kind(manifests, "ConfigMap").values():
        for key in config_map.get("data", {}):
            assert not re.search(r"SECRET|PASSWORD|TOKEN|_KEY|_URL", key), key


def test_production_expects_exactly_the_documented_secrets() -> None:
    manifests = render("production")
    referenced = secrets_referenced(manifests)
    assert referenced == EXTERNAL_SECRETS
    readme = (K8S / "README.md").read_text()
    overlay = (K8S / "overlays" / "production" / "kustomization.yaml").read_text()
    for name in [*referenced, "livevote-mongodb-password"]:
        assert f"`{name}`" in readme and name in overlay, name


def test_the_local_overlay_renders_every_secret_and_config_map_it_references() -> None:
    manifests = render("local")
    rendered_secrets = set(of_kind(manifests, "Secret"))
    assert secrets_referenced(manifests) <= rendered_secrets
    config_maps = set(of_kind(manifests, "ConfigMap"))
    for m in manifests:
        if m["kind"] in {"Deployment", "StatefulSet"}:
            for volume in pod_spec(m).get("volumes", []):
                if "configMap" in volume:
                    assert volume["configMap"]["name"] in config_maps
            for container in pod_spec(m)["containers"]:
                for source in container.get("envFrom", []):
                    if "configMapRef" in source:
                        assert source["configMapRef"]["name"] in config_maps


def secrets_referenced(manifests: tuple[Manifest, ...]) -> set[str]:
    names: set[str] = set()
    for _, container in containers(manifests):
        names |= {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
        names |= {
            v["valueFrom"]["secretKeyRef"]["name"]
            for v in container.get("env", [])
            if "secretKeyRef" in v.get("valueFrom", {})
        }
    for m in manifests:
        if m["kind"] in {"Deployment", "StatefulSet"}:
            names |= {
                v["secret"]["secretName"] for v in pod_spec(m).get("volumes", []) if "secret" in v
            }
    return names


@pytest.mark.parametrize("service", ["voting", "notifier"])
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_rebuild_job_runs_like_its_service(overlay: str, service: str) -> None:
    """The Job template, filled in the way README.md does it from the live Deployment."""
    manifests = render(overlay)
    (container,) = pod_spec(of_kind(manifests, "Deployment")[service])["containers"]
    template = (K8S / "jobs" / "rebuild-projections.yaml").read_text()
    for placeholder, value in {
        "__SERVICE__": service,
        "__IMAGE__": container["image"],
        "__CONFIG__": container["envFrom"][0]["configMapRef"]["name"],
        "__CONNECTIONS__": container["envFrom"][1]["secretRef"]["name"],
    }.items():
        template = template.replace(placeholder, value)
    job = yaml.safe_load(template)
    (runner,) = pod_spec(job)["containers"]
    assert runner["command"] == ["python", "-m", f"services.{service}", "rebuild-projections"]
    assert runner["image"] == container["image"]
    assert runner["envFrom"] == container["envFrom"][:2]
    assert runner["securityContext"] == container["securityContext"]
    assert (
        pod_spec(job)["securityContext"]
        == pod_spec(of_kind(manifests, "Deployment")[service])["securityContext"]
    )
    # Counted neither by the service's disruption budget nor by its autoscaler.
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] != service


def test_the_image_runs_as_the_user_the_pods_expect() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    (user,) = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    for overlay in OVERLAYS:
        for deployment in of_kind(render(overlay), "Deployment").values():
            context = pod_spec(deployment)["securityContext"]
            assert (str(context["runAsUser"]), str(context["runAsGroup"])) == user
