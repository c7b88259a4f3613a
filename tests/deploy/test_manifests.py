"""deploy/k8s (issue #15, "Kubernetes"): every overlay rendered by kustomize, every object
validated in strict mode (kubernetes-validate; the ScaledObjects against KEDA's schema, vendored
in deploy/k8s/schemas), and the shape the issue asks for checked against the code it depends on:
the durables of libs/common's consumers.py, the NATS drain of messaging.py, the `mailbridge setup`
command, the images of the root Dockerfile."""

import copy
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from deploy_files import (
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    ROOT,
    Manifest,
    by_kind,
    keda_schema,
    kubectl,
    render,
)
from mailbridge.common.consumers import ALL_QUEUES, CHANGES_QUEUE, EGRESS_SEND_QUEUE, FETCH_QUEUE, SEND_QUEUE
from mailbridge.common.messaging import GRACEFUL_TIMEOUT_S
from mailbridge.launcher.cli import _parser
from mailbridge.testkit.fixtures import unavailable
from nats.js.api import RetentionPolicy

SERVICES = ("config-api", "fetcher", "sender", "sender-egress", "oauth-broker")
# Which durables scale which Deployment: every work queue of the fetcher and the sender pools.
SCALED_ON = {
    "fetcher": {(q.stream.name, q.durable) for q in (FETCH_QUEUE, CHANGES_QUEUE)},
    "sender": {(SEND_QUEUE.stream.name, SEND_QUEUE.durable)},
    "sender-egress": {(EGRESS_SEND_QUEUE.stream.name, EGRESS_SEND_QUEUE.durable)},
}
SECRETS = {"mailbridge-secrets", "oauth-broker-secrets"}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    if kubectl() is None:
        unavailable("kubectl (with kustomize v5) is not installed: deploy/k8s cannot be rendered")
    return request.param, render(request.param)


def validate(doc: Manifest) -> None:
    """Strict: an unknown field is an error, as for `kubectl apply --validate=strict`."""
    if doc["apiVersion"].startswith("keda.sh/"):
        jsonschema.validate(doc, keda_schema())
    else:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def pod_spec(doc: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = doc["spec"]["template"]["spec"]
    return spec


def test_every_object_is_valid_in_strict_mode(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    assert {doc["kind"] for doc in manifests} >= {
        "Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "Job", "ScaledObject",
        "HorizontalPodAutoscaler",
    }  # fmt: skip
    for doc in manifests:
        validate(doc)


def test_strict_validation_rejects_an_unknown_field(overlay: tuple[str, list[Manifest]]) -> None:
    """The validators above would catch a typo (they are not merely parsing)."""
    _, manifests = overlay
    deployment = copy.deepcopy(by_kind(manifests, "Deployment")["fetcher"])
    pod_spec(deployment)["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)
    scaled = copy.deepcopy(by_kind(manifests, "ScaledObject")["fetcher"])
    scaled["spec"]["maxReplicas"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)
    scaled = copy.deepcopy(by_kind(manifests, "ScaledObject")["fetcher"])
    scaled["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 16  # KEDA wants strings
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled)


def test_each_service_has_deployment_disruption_budget_probes_and_resources(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    deployments = by_kind(manifests, "Deployment")
    budgets = by_kind(manifests, "PodDisruptionBudget")
    assert set(deployments) == set(SERVICES)
    for name in SERVICES:
        labels = deployments[name]["spec"]["selector"]["matchLabels"]
        assert budgets[name]["spec"]["selector"]["matchLabels"] == labels
        spec = pod_spec(deployments[name])
        # longer than the NATS drain: the consumers' grace and FastStream's graceful timeout
        assert spec["terminationGracePeriodSeconds"] > 2 * GRACEFUL_TIMEOUT_S
        assert spec["securityContext"]["runAsNonRoot"] is True
        (container,) = spec["containers"]
        assert container["image"].split(":")[0].startswith("mailbridge/")
        assert {"readinessProbe", "livenessProbe"} <= set(container)
        assert set(container["resources"]) == {"requests", "limits"}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        refs = [source for source in container["envFrom"] if "configMapRef" in source]
        assert any(ref["configMapRef"]["name"].startswith(f"{name}-config-") for ref in refs)


def test_config_api_listens_behind_a_service_and_scales_on_cpu(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    (service,) = by_kind(manifests, "Service").values()  # the only one that listens
    assert service["metadata"]["name"] == "config-api"
    api = pod_spec(by_kind(manifests, "Deployment")["config-api"])["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert service["spec"]["ports"][0]["targetPort"] == api["ports"][0]["name"]
    (hpa,) = by_kind(manifests, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "config-api",
    }
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]


def test_fetchers_and_senders_scale_on_each_durable_consumer(overlay: tuple[str, list[Manifest]]) -> None:
    name, manifests = overlay
    scaled = by_kind(manifests, "ScaledObject")
    assert set(scaled) == set(SCALED_ON)
    for target, durables in SCALED_ON.items():
        spec = scaled[target]["spec"]
        assert spec["scaleTargetRef"]["name"] == target
        assert spec["minReplicaCount"] == 1
        assert spec["maxReplicaCount"] >= 1
        triggers = spec["triggers"]
        assert {trigger["type"] for trigger in triggers} == {"nats-jetstream"}
        assert {(t["metadata"]["stream"], t["metadata"]["consumer"]) for t in triggers} == durables
        for trigger in triggers:
            assert trigger["metadata"]["natsServerMonitoringEndpoint"].endswith(":8222")
    # every work queue of consumers.py has a trigger: a new one without would scale nothing
    work_queues = {
        (q.stream.name, q.durable) for q in ALL_QUEUES if q.stream.retention is RetentionPolicy.WORK_QUEUE
    }
    assert set().union(*SCALED_ON.values()) == work_queues
    fetchers = {"dev": 2, "prod": 20}[name]  # the most fetchers is the overlay's to say
    assert scaled["fetcher"]["spec"]["maxReplicaCount"] == fetchers


def test_secrets_are_referenced_never_inlined(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    assert "Secret" not in {doc["kind"] for doc in manifests}
    for config in by_kind(manifests, "ConfigMap").values():
        for key in config["data"]:
            assert not re.search("SECRET|PASSWORD|DATABASE_URL", key), key
    for doc in manifests:
        if doc["kind"] in ("Deployment", "Job"):
            for container in pod_spec(doc)["containers"]:
                assert "env" not in container  # all from ConfigMaps and Secrets
                refs = {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s}
                assert refs
                assert refs <= SECRETS


def test_setup_job_runs_mailbridge_setup_before_the_services(overlay: tuple[str, list[Manifest]]) -> None:
    _, manifests = overlay
    (job,) = by_kind(manifests, "Job").values()
    (container,) = pod_spec(job)["containers"]
    assert container["command"] == ["mailbridge", "setup"]
    assert container["image"].split(":")[0] == "mailbridge/launcher"
    assert _parser().parse_args(container["command"][1:]).command == "setup"  # the command exists


def test_prod_keeps_every_stream_on_the_three_node_nats_cluster() -> None:
    values = yaml.safe_load((K8S / "nats-values.yaml").read_text())
    assert values["config"]["cluster"] == {"enabled": True, "replicas": 3}
    assert values["config"]["jetstream"]["enabled"] is True
    assert values["config"]["jetstream"]["fileStore"]["pvc"]["enabled"] is True
    assert values["config"]["monitor"] == {"enabled": True, "port": 8222}
    assert values["service"]["ports"]["monitor"]["enabled"] is True  # KEDA reads lag there
    base = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    (shared,) = [g for g in base["configMapGenerator"] if g["name"] == "mailbridge-config"]
    assert "MAILBRIDGE_NATS_STREAM_REPLICAS=3" in shared["literals"]


def test_every_image_and_probe_script_comes_from_the_root_dockerfile(
    overlay: tuple[str, list[Manifest]],
) -> None:
    _, manifests = overlay
    dockerfile = (ROOT / "Dockerfile").read_text()
    targets = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, re.MULTILINE))
    for doc in manifests:
        if doc["kind"] in ("Deployment", "Job"):
            for container in pod_spec(doc)["containers"]:
                assert container["image"].split(":")[0].removeprefix("mailbridge/") in targets
                for probe in ("readinessProbe", "livenessProbe"):
                    command = container.get(probe, {}).get("exec", {}).get("command", [])
                    if command:
                        assert command[1] == "/app/healthcheck.py"
    assert "COPY deploy/healthcheck.py /app/healthcheck.py" in dockerfile
