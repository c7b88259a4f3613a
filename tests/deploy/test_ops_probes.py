"""#15 Operations in the deployment files: every Deployment's probes are the services' own HTTP
endpoints (readiness /readyz, liveness /healthz, or the API's port), on the port the image sets
(MAILBRIDGE_OPS_PORT for the fetcher, the senders and the OAuth broker; the API's port for
config-api), Prometheus is told where /metrics is, and each image's HEALTHCHECK asks /readyz."""

import re

import pytest
from deploy_files import OVERLAYS, ROOT, Manifest, by_kind, kubectl, render
from mailbridge.testkit.fixtures import unavailable
from test_containers import stages

OPS_TARGETS = {
    "fetcher": "fetcher",
    "sender": "sender",
    "sender-egress": "sender",
    "oauth-broker": "oauth-broker",
}


@pytest.fixture(scope="module", params=OVERLAYS)
def deployments(request: pytest.FixtureRequest) -> dict[str, Manifest]:
    if kubectl() is None:
        unavailable("kubectl (with kustomize v5) is not installed: deploy/k8s cannot be rendered")
    return by_kind(render(request.param), "Deployment")


def image_ops_port(target: str) -> int:
    """MAILBRIDGE_OPS_PORT as the image's stage sets it."""
    match = re.search(r"MAILBRIDGE_OPS_PORT=(\d+)", stages()[target])
    assert match, f"the {target} image sets no MAILBRIDGE_OPS_PORT"
    return int(match.group(1))


def test_workers_are_probed_on_their_ops_port(deployments: dict[str, Manifest]) -> None:
    for name, target in OPS_TARGETS.items():
        template = deployments[name]["spec"]["template"]
        (container,) = template["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert ports["ops"] == image_ops_port(target)
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "ops"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "ops"}
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == ports["ops"]
        assert annotations["prometheus.io/path"] == "/metrics"


def test_config_api_is_ready_on_readyz_and_scraped_on_its_port(deployments: dict[str, Manifest]) -> None:
    template = deployments["config-api"]["spec"]["template"]
    (container,) = template["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # not /healthz: the API's /healthz answers 503 during a NATS outage, which must not restart it
    assert "tcpSocket" in container["livenessProbe"]
    (port,) = container["ports"]
    assert int(template["metadata"]["annotations"]["prometheus.io/port"]) == port["containerPort"]


def test_every_service_image_checks_its_readiness_endpoint() -> None:
    found = stages()
    for target in set(OPS_TARGETS.values()):
        port = image_ops_port(target)
        assert "MAILBRIDGE_OPS_HOST=0.0.0.0" in found[target]  # reachable by the kubelet and Prometheus
        assert f'"/app/healthcheck.py", "http", "http://127.0.0.1:{port}/readyz"' in found[target]
    assert '"http://127.0.0.1:8080/readyz"' in found["config-api"]
    assert (ROOT / "deploy" / "healthcheck.py").exists()
