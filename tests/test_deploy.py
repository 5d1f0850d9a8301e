"""deploy/ passes scripts/validate_deploy.py (Kubernetes schemas, compose-spec, hadolint,
offline), and the script finds each kind of mistake it claims to, on a copy of deploy/."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "validate_deploy.py"
# A histogram's series, and the TYPE line's name of a counter (prometheus_client keeps _total).
SUFFIXES = r"_(bucket|sum|count)$"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate_deploy", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("validate_deploy", module)
    spec.loader.exec_module(module)
    return module


validate_deploy = _script()


def test_deploy_is_valid() -> None:
    found, summary = validate_deploy.problems(ROOT)
    assert found == []
    assert "production 10" in summary  # the overlay's Namespace besides the base's 9


@pytest.fixture
def copy_root(tmp_path: Path) -> Path:
    """A repository root with its own copy of deploy/ (the rest linked)."""
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    for name in ("pyproject.toml", "README.md", "src"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _edit(root: Path, file: str, old: str, new: str) -> None:
    path = root / "deploy" / file
    text = path.read_text()
    assert old in text, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1))


KUBERNETES_MISTAKES = [
    # A field Kubernetes does not have (strict schema).
    (
        "k8s/base/api.yaml",
        "  replicas: 2\n",
        "  replicas: 2\n  replica: 2\n",
        "Deployment/berrys-api: spec: Additional properties are not allowed ('replica'",
    ),
    # A value of the wrong type.
    ("k8s/base/worker.yaml", "maxReplicas: 10", "maxReplicas: ten", "'ten' is not of type"),
    # A selector that selects nothing.
    (
        "k8s/base/worker.yaml",
        "maxUnavailable: 1\n  selector:\n    matchLabels:\n"
        "      app.kubernetes.io/name: berrys\n      app.kubernetes.io/component: worker",
        "maxUnavailable: 1\n  selector:\n    matchLabels:\n"
        "      app.kubernetes.io/name: berrys\n      app.kubernetes.io/component: workers",
        "berrys-worker: its selector selects no pods",
    ),
    # A setting Berrys does not have.
    (
        "k8s/base/worker.yaml",
        "BERRYS_WORKER_CONCURRENCY",
        "BERRYS_WORKER_CONCURENCY",
        "BERRYS_WORKER_CONCURENCY is not a Berrys setting",
    ),
    # A command the image does not have, and an option a command does not have.
    (
        "k8s/base/worker.yaml",
        'args: ["worker"]',
        'args: ["wroker"]',
        "`berrys wroker` is not a berrys command",
    ),
    ("k8s/base/api.yaml", '"--port", "8000"', '"--prot", "8000"', "No such option"),
    # A ConfigMap that is not there.
    (
        "k8s/base/api.yaml",
        "name: berrys-config",
        "name: berrys-configuration",
        "ConfigMap 'berrys-configuration' is not there",
    ),
]

OVERLAY_MISTAKES = [
    # A patch on a resource the base does not have, and a path it does not have.
    (
        "k8s/overlays/production/kustomization.yaml",
        "kind: HorizontalPodAutoscaler\n      name: berrys-worker",
        "kind: HorizontalPodAutoscaler\n      name: berrys-workers",
        "which is not there",
    ),
    (
        "k8s/overlays/production/api-budget.yaml",
        "/spec/minAvailable",
        "/spec/min/Available",
        "api-budget.yaml on PodDisruptionBudget/berrys-api",
    ),
    # A transformer this check does not render is refused, not skipped.
    (
        "k8s/overlays/production/kustomization.yaml",
        "namespace: berrys\n",
        "namespace: berrys\nnamePrefix: prod-\n",
        "cannot render: ['namePrefix']",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), KUBERNETES_MISTAKES)
def test_kubernetes_mistakes_are_found(copy_root, file, old, new, expected) -> None:
    _edit(copy_root, file, old, new)
    found, _ = validate_deploy.kubernetes_problems(copy_root / "deploy" / "k8s" / "base")
    assert any(expected in problem for problem in found), found


@pytest.mark.parametrize(("file", "old", "new", "expected"), OVERLAY_MISTAKES)
def test_overlay_mistakes_are_found(copy_root, file, old, new, expected) -> None:
    _edit(copy_root, file, old, new)
    overlay = copy_root / "deploy" / "k8s" / "overlays" / "production"
    found, _ = validate_deploy.kubernetes_problems(overlay)
    assert any(expected in problem for problem in found), found


COMPOSE_MISTAKES = [
    (
        "compose.yaml",
        "volumes:\n  postgres-data:\n  berrys-data:",
        "volumes:\n  - postgres-data\n  - berrys-data",
        "is not of type 'object'",
    ),
    ("compose.yaml", "  worker:\n", "  worker:\n   image: [", "compose.yaml: not YAML"),
    ("compose.yaml", "stop_grace_period: 60s", "stop_grace: 60s", "'stop_grace' was unexpected"),
    ("compose.dev.yaml", "  worker:\n", "  workers:\n", "'workers' is not in compose.yaml"),
    ("compose.yaml", "./nginx/berrys.conf", "./nginx/default.conf", "which is not there"),
    (
        "compose.yaml",
        'command: ["worker"]',
        'command: ["worker", "--threads", "2"]',
        "No such option",
    ),
    (".env.example", "POSTGRES_PASSWORD=\n", "", "${POSTGRES_PASSWORD} is required"),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), COMPOSE_MISTAKES)
def test_compose_mistakes_are_found(copy_root, file, old, new, expected) -> None:
    _edit(copy_root, file, old, new)
    found = validate_deploy.compose_problems(copy_root / "deploy")
    assert any(expected in problem for problem in found), found


DOCKERFILE_MISTAKES = [
    ("FROM ${BASE_IMAGE} AS build", "FROM python AS build", "DL3006"),
    # The runtime stage on another image than the build stage's virtual environment.
    (
        "FROM ${BASE_IMAGE}\n",
        "FROM python:3.13-slim\n",
        "its stages start from different images: ['${BASE_IMAGE}', 'python:3.13-slim']",
    ),
    ("COPY src ./src", "COPY source ./src", "COPY source: not in the repository"),
    ('CMD ["serve",', 'CMD ["server",', "`berrys server --host"),
]


@pytest.mark.parametrize(("old", "new", "expected"), DOCKERFILE_MISTAKES)
def test_dockerfile_mistakes_are_found(copy_root, old, new, expected) -> None:
    _edit(copy_root, "Dockerfile", old, new)
    found = validate_deploy.dockerfile_problems(copy_root)
    assert any(expected in problem for problem in found), found


async def test_the_prometheus_files_query_metrics_berrys_exposes(client) -> None:
    exposition = (await client.get("/metrics")).text
    exposed = set(re.findall(r"^# TYPE (berrys_[a-z0-9_]+)", exposition, re.MULTILINE))
    used = validate_deploy.metrics_used(ROOT / "deploy")
    assert {"berrys_tasks_waiting", "berrys_http_requests_total"} <= used
    unknown = {name for name in used if re.sub(SUFFIXES, "", name) not in exposed}
    assert unknown == set()


def test_the_autoscaler_scales_on_a_metric_the_adapter_serves(copy_root) -> None:
    assert validate_deploy.prometheus_problems(copy_root / "deploy") == []
    _edit(copy_root, "k8s/base/worker.yaml", "name: berrys_task_demand", "name: berrys_demand")
    found = validate_deploy.prometheus_problems(copy_root / "deploy")
    assert found == [
        "HorizontalPodAutoscaler/berrys-worker: external metric berrys_demand is not served"
    ]


NGINX_MISTAKES = [
    ("proxy_buffering off;", "proxy_bufering off;", 'unknown directive "proxy_bufering"'),
    ("proxy_read_timeout 1h;", "proxy_read_timeout;", "invalid number of arguments"),
    ("keepalive 32;", "keepalive 32;\n    listen 80;", '"listen" directive is not allowed here'),
]


def test_the_nginx_configuration_is_valid_and_mistakes_are_found(copy_root) -> None:
    assert validate_deploy.nginx_problems(copy_root / "deploy") == []
    for old, new, expected in NGINX_MISTAKES:
        shutil.copy(ROOT / "deploy" / "nginx" / "berrys.conf", copy_root / "deploy" / "nginx")
        _edit(copy_root, "nginx/berrys.conf", old, new)
        found = validate_deploy.nginx_problems(copy_root / "deploy")
        assert any(expected in problem for problem in found), found
