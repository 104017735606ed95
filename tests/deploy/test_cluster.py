"""deploy/k8s on a real Kubernetes control plane: the API server checks every manifest, and
the runbook of deploy/k8s/README.md runs as an operator would type it.

scripts/cluster.sh runs etcd, kube-apiserver, kube-controller-manager and kube-scheduler on
loopback, with kwok's fake nodes: pods are scheduled and become Running and Ready (a Job's
pod succeeds) without any container. What is checked is what the API server and the
controllers make of the manifests and the commands, not the services themselves.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.deploy.test_manifests import (
    EXTERNAL_SECRETS,
    K8S,
    ROOT,
    Manifest,
    of_kind,
    render,
    secrets_referenced,
)

T = TypeVar("T")
CLUSTER = ROOT / "scripts" / "cluster.sh"
README = K8S / "README.md"
CRDS = Path(__file__).resolve().parent / "crds"
# The namespace both overlays and the README use.
NAMESPACE = "livevote"
# The production runbook runs beside the local overlay, in a namespace of its own.
PRODUCTION = "livevote-production"
# How long a rollout may take on fake nodes (seconds); they take one or two.
ROLLOUT = "120s"


@dataclass(frozen=True)
class Cluster:
    kubectl_binary: Path
    kubeconfig: Path
    # A folder with `kubectl` in it, first on the PATH of the runbook's shell.
    bin_dir: Path

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}",
        }

    def attempt(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.kubectl_binary), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=240,
        )

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = self.attempt(*args, stdin=stdin)
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stderr}"
        return done.stdout

    def get(self, *args: str) -> Manifest:
        found: Manifest = json.loads(self.kubectl("get", *args, "-o", "json"))
        return found

    def sh(self, script: str, cwd: Path = ROOT) -> str:
        """Run a runbook's lines in bash, as typed into a shell (stopping at a failure)."""
        done = subprocess.run(
            ["bash", "-e", "-c", script],
            capture_output=True,
            text=True,
            env=self.env(),
            cwd=cwd,
            timeout=240,
        )
        assert done.returncode == 0, f"{script}\n---\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def sh_refused(self, script: str) -> str:
        """Run lines that are to fail; what they printed on stderr."""
        done = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, env=self.env(), timeout=60
        )
        assert done.returncode != 0, f"{script}\n---\n{done.stdout}"
        return done.stderr


def script_variable(name: str) -> str:
    (value,) = re.findall(rf'^{name}="([^"]+)"$', CLUSTER.read_text(), re.MULTILINE)
    return str(value)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The control plane of scripts/cluster.sh (started when it is not running), with the
    operators' CRDs and none of the namespaces an earlier run left."""
    tools = Path(
        os.environ.get("LIVEVOTE_TOOLS_DIR", Path.home() / ".local" / "share" / "livevote" / "bin")
    )
    kubectl = tools / f"kubectl-{script_variable('KUBE_VERSION')}"
    if not kubectl.exists():
        pytest.fail(
            "the control plane is not built: scripts/cluster.sh install (make test runs it;"
            " the first build takes a quarter of an hour)"
        )
    subprocess.run([str(CLUSTER), "up"], check=True, timeout=240)
    kubeconfig = Path(
        subprocess.run(
            [str(CLUSTER), "kubeconfig"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    bin_dir = tmp_path_factory.mktemp("bin")
    (bin_dir / "kubectl").symlink_to(kubectl)
    # A command that names no namespace goes to one that does not exist, and fails: the
    # runbook must say where everything goes.
    config = yaml.safe_load(kubeconfig.read_text())
    for context in config["contexts"]:
        context["context"]["namespace"] = "no-namespace-given"
    (bin_dir / "kubeconfig").write_text(yaml.safe_dump(config))
    running = Cluster(kubectl, bin_dir / "kubeconfig", bin_dir)
    running.kubectl(
        "delete", "namespace", NAMESPACE, PRODUCTION, "--ignore-not-found", "--timeout=180s"
    )
    # Server-side: the RabbitMQ CRD is too large for the annotation client-side apply keeps.
    running.kubectl("apply", "--server-side", "-f", str(CRDS))
    running.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    yield running


def runbook(*lines: str) -> str:
    """The README's shell block that holds all these lines, as written there."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    found = [block for block in blocks if all(line in block for line in lines)]
    assert len(found) == 1, f"{len(found)} blocks of deploy/k8s/README.md hold {lines}"
    return str(found[0])


def inline_line(start: str) -> str:
    """The one line of the README that starts (after its indentation) with these words,
    without its comment."""
    (line,) = [
        line.strip() for line in README.read_text().splitlines() if line.strip().startswith(start)
    ]
    return line.partition("  #")[0].strip()


def inline_command(start: str) -> str:
    """A command the README quotes inline (`kubectl ...`), from its start."""
    (command,) = re.findall(rf"`({re.escape(start)}[^`]*)`", README.read_text())
    return str(command)


NS = 'NS="-n livevote"\n'


def expected_replicas(deployment: Manifest, manifests: tuple[Manifest, ...]) -> int:
    autoscalers = of_kind(manifests, "HorizontalPodAutoscaler")
    name = deployment["metadata"]["name"]
    if name in autoscalers:
        return int(autoscalers[name]["spec"]["minReplicas"])
    return int(deployment["spec"]["replicas"])


def wait_ready(cluster: Cluster, namespace: str, workload: str, replicas: int) -> None:
    """Until the workload has this many ready replicas and no others (a rollout done)."""
    cluster.kubectl(
        "-n",
        namespace,
        "wait",
        f"--for=jsonpath={{.status.readyReplicas}}={replicas}",
        workload,
        f"--timeout={ROLLOUT}",
    )
    cluster.kubectl("-n", namespace, "rollout", "status", workload, f"--timeout={ROLLOUT}")
    status = cluster.get("-n", namespace, workload)["status"]
    assert status["replicas"] == status["readyReplicas"] == replicas, status


def pods(cluster: Cluster, namespace: str, service: str) -> dict[str, Manifest]:
    """The service's pods that are not being deleted, by name."""
    listed = cluster.get("-n", namespace, "pods", "-l", f"app.kubernetes.io/name={service}")
    return {
        pod["metadata"]["name"]: pod
        for pod in listed["items"]
        if "deletionTimestamp" not in pod["metadata"]
    }


def ready(pod: Manifest) -> bool:
    conditions = pod["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def printed(output: str, manifest: Manifest, outcome: str) -> bool:
    """Whether kubectl apply printed this outcome (a pattern) for the object."""
    kind, name = manifest["kind"].lower(), re.escape(manifest["metadata"]["name"])
    return bool(re.search(rf"^{kind}(\.[\w.]+)?/{name} {outcome}$", output, re.MULTILINE))


def until(probe: Callable[[], T], seconds: float = 60.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with its last value (the
    synchronous sibling of tests.support.eventually, for probes that run kubectl)."""
    deadline = time.monotonic() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {seconds}s (last value: {value!r})")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def local(cluster: Cluster) -> str:
    """The local overlay, applied as the README's "Local cluster" says (without the image
    build: no container runs here); what `kubectl apply` printed."""
    block = runbook("kubectl apply -k deploy/k8s/overlays/local")
    lines = ["kubectl create namespace livevote", "kubectl apply -k deploy/k8s/overlays/local"]
    for line in lines:
        assert line in block.splitlines()
    return cluster.sh("\n".join(lines))


def test_the_local_overlay_is_accepted_and_every_workload_becomes_ready(
    cluster: Cluster, local: str
) -> None:
    manifests = render("local")
    # Every object was taken as it is: apply says so of each, and the server holds it.
    for m in manifests:
        assert printed(local, m, "created"), (m["kind"], m["metadata"]["name"])
    kinds = sorted({m["kind"] for m in manifests})
    assert set(kinds) >= {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    }
    held = cluster.get("-n", NAMESPACE, ",".join(kinds))["items"]
    present = {(m["kind"], m["metadata"]["name"]) for m in held}
    assert {(m["kind"], m["metadata"]["name"]) for m in manifests} <= present

    cluster.kubectl(
        "-n",
        NAMESPACE,
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        f"--timeout={ROLLOUT}",
    )
    for name, deployment in of_kind(manifests, "Deployment").items():
        wait_ready(
            cluster, NAMESPACE, f"deployment/{name}", expected_replicas(deployment, manifests)
        )
    for name in of_kind(manifests, "StatefulSet"):
        # Their claims got volumes (kwok's volume stages), so their pods were scheduled.
        wait_ready(cluster, NAMESPACE, f"statefulset/{name}", 1)
    claims = cluster.get("-n", NAMESPACE, "persistentvolumeclaims")["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["data-mongodb-0", "data-rabbitmq-0"]
    assert {c["status"]["phase"] for c in claims} == {"Bound"}


def test_the_autoscalers_keep_gateway_and_voting_at_their_minimum(
    cluster: Cluster, local: str
) -> None:
    # A Deployment without `replicas` starts with one pod: its autoscaler brings it to
    # minReplicas, without any metric (no metrics server runs here).
    for name, hpa in of_kind(render("local"), "HorizontalPodAutoscaler").items():
        minimum = hpa["spec"]["minReplicas"]
        cluster.kubectl(
            "-n",
            NAMESPACE,
            "wait",
            f"--for=jsonpath={{.status.desiredReplicas}}={minimum}",
            f"hpa/{name}",
            f"--timeout={ROLLOUT}",
        )
        wait_ready(cluster, NAMESPACE, f"deployment/{name}", minimum)


def test_the_production_overlay_passes_a_server_side_dry_run(cluster: Cluster, local: str) -> None:
    """Every object, the operators' resources included: the API server validates those
    against the schemas of the operators' CRDs (tests/deploy/crds)."""
    done = cluster.kubectl("apply", "--dry-run=server", "-k", "deploy/k8s/overlays/production")
    for m in render("production"):
        assert printed(done, m, r"\w+ \(server dry run\)"), (m["kind"], m["metadata"]["name"])
    assert of_kind(render("production"), "RabbitmqCluster")
    assert of_kind(render("production"), "MongoDBCommunity")


@pytest.mark.parametrize(
    ("kind", "path", "value", "complaint"),
    [
        # A misspelt field would be dropped without a word by the operator.
        ("RabbitmqCluster", ["spec", "replica"], 3, 'unknown field "spec.replica"'),
        ("RabbitmqCluster", ["spec", "replicas"], "three", "spec.replicas: Invalid value"),
        ("MongoDBCommunity", ["spec", "type"], "Sharded", "spec.type: Unsupported value"),
        (
            "MongoDBCommunity",
            ["spec", "security", "authentication", "modes"],
            ["PLAIN"],
            "spec.security.authentication.modes[0]: Unsupported value",
        ),
    ],
)
def test_the_operators_schemas_reject_a_resource_their_operator_would_misread(
    cluster: Cluster, local: str, kind: str, path: list[str], value: Any, complaint: str
) -> None:
    """The check of the production overlay's custom resources is a real one."""
    (resource,) = of_kind(render("production"), kind).values()
    changed = json.loads(json.dumps(resource))
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    done = cluster.attempt("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(changed))
    assert done.returncode != 0
    assert complaint in done.stderr, done.stderr


def test_scaling_a_worker_reaches_the_count(cluster: Cluster, local: str) -> None:
    command = inline_command("kubectl $NS scale deployment/wallet")
    assert command.endswith("--replicas=3")
    before = set(pods(cluster, NAMESPACE, "wallet"))
    cluster.sh(NS + command)
    wait_ready(cluster, NAMESPACE, "deployment/wallet", 3)
    after = pods(cluster, NAMESPACE, "wallet")
    assert before < set(after)
    # Spread over both nodes (the topology spread constraint).
    assert len({pod["spec"]["nodeName"] for pod in after.values()}) == 2
    cluster.sh(NS + command.replace("--replicas=3", "--replicas=2"))
    wait_ready(cluster, NAMESPACE, "deployment/wallet", 2)


def test_patching_an_autoscalers_bounds_moves_its_deployment(cluster: Cluster, local: str) -> None:
    command = inline_command("kubectl $NS patch hpa voting")
    cluster.sh(NS + command)
    assert cluster.get("-n", NAMESPACE, "hpa/voting")["spec"]["maxReplicas"] == 16
    # A new minimum above the count scales the Deployment up at once.
    cluster.sh(NS + command.replace('"maxReplicas": 16', '"minReplicas": 3'))
    wait_ready(cluster, NAMESPACE, "deployment/voting", 3)
    spec = cluster.get("-n", NAMESPACE, "hpa/voting")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (3, 16)
    # An apply of the manifests puts the bounds back, and leaves the count to the autoscaler.
    cluster.kubectl("apply", "-k", "deploy/k8s/overlays/local")
    spec = cluster.get("-n", NAMESPACE, "hpa/voting")["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 8)
    assert cluster.get("-n", NAMESPACE, "deployment/voting")["spec"]["replicas"] == 3


def test_a_rolling_restart_replaces_every_pod(cluster: Cluster, local: str) -> None:
    before = pods(cluster, NAMESPACE, "scheduler")
    assert len(before) == 2
    cluster.sh(NS + "kubectl $NS rollout restart deployment/scheduler")
    cluster.kubectl("-n", NAMESPACE, "rollout", "status", "deployment/scheduler", "--timeout=120s")
    wait_ready(cluster, NAMESPACE, "deployment/scheduler", 2)
    after = pods(cluster, NAMESPACE, "scheduler")
    assert len(after) == 2 and not set(after) & set(before)
    assert all(ready(pod) for pod in after.values())
    # From a new ReplicaSet: the restart changed the pod template.
    hashes = {pod["metadata"]["labels"]["pod-template-hash"] for pod in before.values()}
    assert not hashes & {p["metadata"]["labels"]["pod-template-hash"] for p in after.values()}


def test_the_rebuild_job_runs_while_its_service_is_scaled_to_zero(
    cluster: Cluster, local: str
) -> None:
    """README's "Rebuilding read models", for voting, whose autoscaler must leave the zero
    alone. Its `kubectl logs` reaches the Job's pod, whose fake node has no log to give."""
    block = runbook("rebuild-projections.yaml", "kubectl $NS wait --for=condition=complete")
    logs = 'kubectl $NS logs "$JOB"'
    lines = [line for line in block.splitlines() if not line.startswith(logs)]
    assert len(lines) == len(block.splitlines()) - 1
    deployment = cluster.get("-n", NAMESPACE, "deployment/voting")
    replicas = deployment["spec"]["replicas"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # The job's name, printed where the README's logs command would use it. (Were the
    # autoscaler to undo the zero, the block would wait for the pods to go forever.)
    out = cluster.sh("\n".join([*lines, 'echo "job: $JOB"']))
    (job_name,) = re.findall(r"^job: job\.batch/(\S+)$", out, re.MULTILINE)
    # Its logs: the API server finds the Job's pod and asks its node, which has none.
    refused = cluster.sh_refused(f"{NS}JOB=job.batch/{job_name}\n{logs}")
    assert f'no logs found for container "rebuild-projections" in pod "{NAMESPACE}/{job_name}-' in (
        refused
    )
    assert job_name.startswith("voting-rebuild-projections-")
    job = cluster.get("-n", NAMESPACE, f"job/{job_name}")
    assert job["status"]["succeeded"] == 1
    assert any(
        c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"]
    )
    (runner,) = job["spec"]["template"]["spec"]["containers"]
    assert runner["image"] == container["image"] == "livevote:dev"
    assert runner["envFrom"] == container["envFrom"][:2]
    assert runner["command"] == ["python", "-m", "services.voting", "rebuild-projections"]
    # The service is back at its count, and its autoscaler at work again.
    wait_ready(cluster, NAMESPACE, "deployment/voting", replicas)

    def scaling() -> str:
        status = cluster.get("-n", NAMESPACE, "hpa/voting")["status"]
        (active,) = (c for c in status["conditions"] if c["type"] == "ScalingActive")
        # With the count at zero the autoscaler says ScalingDisabled; here, without a
        # metrics server, it tries and fails to read the CPU.
        return str(active["reason"]) if status.get("currentReplicas", 0) == replicas else ""

    assert until(scaling) != "ScalingDisabled"


def test_the_backup_job_dumps_to_the_backup_volume_with_the_services_connection(
    cluster: Cluster, local: str
) -> None:
    """README's "Backing up MongoDB": the volume is claimed, the Job completes (on a fake
    node: nothing is dumped) with the database URL of the Secret the services read."""
    block = runbook("backup-mongodb.yaml", 'kubectl $NS wait --for=condition=complete "$BACKUP"')
    logs = 'kubectl $NS logs "$BACKUP"'
    lines = [line for line in block.splitlines() if not line.startswith(logs)]
    assert len(lines) == len(block.splitlines()) - 1
    out = cluster.sh("\n".join([*lines, 'echo "job: $BACKUP"']))
    (job_name,) = re.findall(r"^job: job\.batch/(\S+)$", out, re.MULTILINE)
    assert job_name.startswith("mongodb-backup-")
    job = cluster.get("-n", NAMESPACE, f"job/{job_name}")
    assert job["status"]["succeeded"] == 1
    (dump,) = job["spec"]["template"]["spec"]["containers"]
    assert "mongodump" in " ".join(dump["command"])
    (url,) = dump["env"]
    (service,) = cluster.get("-n", NAMESPACE, "deployment/voting")["spec"]["template"]["spec"][
        "containers"
    ]
    connections = service["envFrom"][1]["secretRef"]["name"]
    assert url["valueFrom"]["secretKeyRef"] == {"name": connections, "key": "LIVEVOTE_MONGODB_URL"}
    volume = cluster.get("-n", NAMESPACE, "pvc/livevote-backups")
    assert volume["status"]["phase"] == "Bound"


def test_exec_reaches_the_container_the_runbook_names(cluster: Cluster, local: str) -> None:
    """kwok's nodes run no process, so they refuse an exec, naming the pod and container
    the API server resolved the command to and sent it on to the node for."""
    for command, workload, container in [
        # The dead-letter tool, from a shell in a gateway pod (the other subcommands alike).
        (
            inline_line(
                "kubectl $NS exec deploy/gateway -- python -m eventing.dead_letters_cli list"
            ),
            "gateway",
            "gateway",
        ),
        # The local overlay's broker (the production one runs under its operator).
        (inline_line("kubectl $NS exec rabbitmq-0 -- rabbitmqctl"), "rabbitmq", "rabbitmq"),
    ]:
        refused = cluster.sh_refused(NS + command)
        pod = re.escape(f"{NAMESPACE}/{workload}-")
        assert re.search(rf'no exec found for container "{container}" in pod "{pod}', refused), (
            command,
            refused,
        )
    assert (ROOT / "eventing" / "dead_letters_cli.py").exists()
    # A container name the pod lacks is refused by the API server itself.
    refused = cluster.sh_refused(NS + "kubectl $NS exec deploy/gateway -c broker -- true")
    assert "container broker is not valid" in refused


def port_forward(cluster: Cluster, command: str) -> tuple[int, str]:
    """Run a `kubectl port-forward` of the runbook, connect once to its local port and
    return the pod port it forwarded to and what kubectl said then."""
    forward = subprocess.Popen(
        ["bash", "-c", f"{NS.strip()}; exec {command}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env(),
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        found = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert found, line
        with socket.create_connection(("127.0.0.1", int(found[1])), timeout=10) as connection:
            connection.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            connection.recv(1024)
        _, said = forward.communicate(timeout=30)
    finally:
        forward.kill()
        forward.wait()
    return int(found[2]), said


def test_port_forward_reaches_the_ports_the_runbook_names(cluster: Cluster, local: str) -> None:
    """The API through the gateway Service, the metrics of a voting pod. The local port
    is left to kubectl (8000 and 8081 may be taken on this machine); kwok's node refuses
    the connection, naming the pod port it was asked for."""
    for line, service, port in [
        ("kubectl -n livevote port-forward svc/gateway 8000:80", "gateway", 8000),
        ("kubectl $NS port-forward deploy/voting 8081", "voting", 8081),
    ]:
        # Without what follows it on its line (`& curl ...`); `:80` for `8000:80`.
        command = re.sub(r" (\d+:)?(\d+)$", r" :\2", inline_line(line).partition(" &")[0])
        forwarded, said = port_forward(cluster, command)
        assert forwarded == port
        pod = re.escape(f"{NAMESPACE}/{service}-")
        assert re.search(rf'no forward found for port {port} in pod \\?"{pod}', said), said


@pytest.fixture(scope="module")
def production(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The production runbook, in a namespace of its own: a kustomization on top of the
    overlay that only changes the namespace. Returns the folder it ran in."""
    folder = tmp_path_factory.mktemp("production")
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": PRODUCTION,
                "resources": [os.path.relpath(K8S / "overlays" / "production", folder)],
            }
        )
    )

    def here(block: str) -> str:
        # A block that uses $NS follows the one that set it, in the same shell.
        return (
            (NS + block)
            .replace("namespace livevote\n", f"namespace {PRODUCTION}\n")
            .replace("-n livevote ", f"-n {PRODUCTION} ")
            .replace('NS="-n livevote"', f'NS="-n {PRODUCTION}"')
            .replace("-k deploy/k8s/overlays/production", f"-k {folder}")
        )

    cluster.sh(here(runbook("kubectl create namespace livevote", "overlays/production")))
    # What the operators write once their broker and database run.
    for secret, data in {
        "rabbitmq-default-user": {"username": "default_user_x", "password": "s3cret-rmq"},
        "mongodb-admin-livevote": {
            "connectionString.standard": "mongodb://livevote:s3cret-db@mongodb-0.mongodb-svc"
            ".livevote-production.svc.cluster.local:27017/admin?replicaSet=mongodb&ssl=false"
        },
    }.items():
        literals = [f"--from-literal={key}={value}" for key, value in data.items()]
        cluster.kubectl("-n", PRODUCTION, "create", "secret", "generic", secret, *literals)
    cluster.sh(here(runbook("create secret generic livevote-connections")))
    (folder / "firebase-key.json").write_text('{"type": "service_account"}\n')
    cluster.sh(here(runbook("create secret generic livevote-jwt")), cwd=folder)
    return folder


def secret_data(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    data = cluster.get("-n", namespace, f"secret/{name}")["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_the_production_runbook_creates_every_secret_the_services_read(
    cluster: Cluster, production: Path
) -> None:
    manifests = render("production")
    wanted = secrets_referenced(manifests) | {"livevote-mongodb-password"}
    assert wanted == EXTERNAL_SECRETS | {"livevote-mongodb-password"}
    held = {s["metadata"]["name"] for s in cluster.get("-n", PRODUCTION, "secrets")["items"]}
    assert wanted <= held
    # Every key a pod reads is in its Secret (a missing one stops the container's start).
    for deployment in of_kind(manifests, "Deployment").values():
        spec = deployment["spec"]["template"]["spec"]
        for container in spec["containers"]:
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secret_data(cluster, PRODUCTION, ref["name"])
        for volume in spec.get("volumes", []):
            if "secret" in volume:
                keys = secret_data(cluster, PRODUCTION, volume["secret"]["secretName"])
                assert "service-account.json" in keys
    connections = secret_data(cluster, PRODUCTION, "livevote-connections")
    assert connections == {
        "LIVEVOTE_RABBITMQ_URL": "amqp://default_user_x:s3cret-rmq@rabbitmq:5672/",
        "LIVEVOTE_MONGODB_URL": "mongodb://livevote:s3cret-db@mongodb-0.mongodb-svc"
        ".livevote-production.svc.cluster.local:27017/admin?replicaSet=mongodb&ssl=false",
    }
    assert len(secret_data(cluster, PRODUCTION, "livevote-jwt")["LIVEVOTE_JWT_SECRET"]) >= 32
    # The operators' resources are stored as applied (no operator acts on them here).
    assert cluster.get("-n", PRODUCTION, "rabbitmqcluster/rabbitmq")["spec"]["replicas"] == 3
    assert cluster.get("-n", PRODUCTION, "mongodbcommunity/mongodb")["spec"]["members"] == 3
    cluster.kubectl(
        "-n",
        PRODUCTION,
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        f"--timeout={ROLLOUT}",
    )


def test_a_rotated_secret_reaches_new_pods_after_a_rolling_restart(
    cluster: Cluster, production: Path
) -> None:
    """README: pods read a Secret when they start; after changing one, a rollout restart."""
    wait_ready(cluster, PRODUCTION, "deployment/gateway", 2)
    old = secret_data(cluster, PRODUCTION, "livevote-jwt")
    before = pods(cluster, PRODUCTION, "gateway")
    create = runbook("create secret generic livevote-jwt").splitlines()[0]
    assert create.startswith("kubectl $NS create secret generic livevote-jwt ")
    rotate = f'NS="-n {PRODUCTION}"\nkubectl $NS delete secret livevote-jwt\n{create}\n'
    cluster.sh(rotate + "kubectl $NS rollout restart deployment/gateway")
    assert secret_data(cluster, PRODUCTION, "livevote-jwt") != old
    wait_ready(cluster, PRODUCTION, "deployment/gateway", 2)
    after = pods(cluster, PRODUCTION, "gateway")
    assert len(after) == 2 and not set(after) & set(before)
    created = cluster.get("-n", PRODUCTION, "secret/livevote-jwt")["metadata"]["creationTimestamp"]
    # Every pod now serving started after the new secret was written.
    assert all(pod["metadata"]["creationTimestamp"] >= created for pod in after.values())


def test_every_pod_meets_the_restricted_pod_security_standard(
    cluster: Cluster, local: str, production: Path
) -> None:
    """The API server's Pod Security admission, asked whether the pods that run (services,
    broker, database, a rebuild Job's) could run under the "restricted" level."""
    for namespace in (NAMESPACE, PRODUCTION):
        labelled = cluster.attempt(
            "label", "--dry-run=server", "--overwrite", f"namespace/{namespace}",
            "pod-security.kubernetes.io/enforce=restricted",
        )  # fmt: skip
        assert labelled.returncode == 0, labelled.stderr
        assert "violate" not in labelled.stderr, labelled.stderr
