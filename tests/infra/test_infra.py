"""infra/ read as data: the launcher YAML against Ray's own schema, the KubeRay and MLflow manifests, the Dockerfile
and .dockerignore, and the RayJob entrypoint through the project's CLI. No network, Docker, Kubernetes or Ray start."""
from __future__ import annotations

import argparse
import ast
import copy
import fnmatch
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
DOCKERFILE = (INFRA / "Dockerfile").read_text()
BUCKET = "pixelpred-data"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
PINS = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().splitlines()
            if "==" in line and not line.startswith("#"))


def load_all(relative: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((REPO / relative).read_text()) if doc is not None]


LAUNCHER = yaml.safe_load((INFRA / "ray-cluster.yaml").read_text())
(RAYCLUSTER,) = load_all("infra/k8s/raycluster.yaml")
(RAYJOB,) = load_all("infra/k8s/rayjob.yaml")
MLFLOW = {doc["kind"]: doc for doc in load_all("infra/k8s/mlflow.yaml")}
MANIFESTS = [RAYCLUSTER, RAYJOB, *MLFLOW.values()]


def documented_tags() -> set[str]:
    """The `-t` tags of the build commands in the Dockerfile's header comment."""
    header = [line for line in DOCKERFILE.splitlines() if line.startswith("#")]
    return {m.group(1) for line in header if "docker build" in line for m in [re.search(r"\s-t\s+(\S+)", line)] if m}


def images_in(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k.endswith("image") and isinstance(v, str)] + \
               [i for k, v in node.items() for i in images_in(v)]
    if isinstance(node, list):
        return [i for v in node for i in images_in(v)]
    return []


def containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def cluster_pod_templates(spec: dict) -> list[tuple[str, dict]]:
    return [("head", spec["headGroupSpec"]["template"])] + \
           [(group["groupName"], group["template"]) for group in spec["workerGroupSpecs"]]


# --- cluster launcher -------------------------------------------------------------------------------------------

def test_launcher_yaml_passes_the_schema_shipped_with_the_installed_ray():
    schema_path = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"
    jsonschema.validate(LAUNCHER, json.loads(schema_path.read_text()))
    assert LAUNCHER["provider"]["type"] == "aws" and LAUNCHER["provider"]["region"]
    assert LAUNCHER["head_node_type"] in LAUNCHER["available_node_types"]


def test_launcher_yaml_stays_valid_with_ray_defaults_merged_and_merges_no_setup():
    from ray.autoscaler._private.util import prepare_config, validate_config   # what `ray up` runs before launching
    prepared = prepare_config(copy.deepcopy(LAUNCHER))
    validate_config(prepared)
    # The image holds everything: the provider defaults (pip-installing Ray and boto3) must not come back.
    assert prepared["head_setup_commands"] == [] and prepared["worker_setup_commands"] == []
    assert any("ray start --head" in c for c in prepared["head_start_ray_commands"])
    assert any("ray start --address=$RAY_HEAD_IP" in c for c in prepared["worker_start_ray_commands"])
    assert prepared["idle_timeout_minutes"] > 0


def test_launcher_worker_bounds_and_gpu_type():
    types_ = LAUNCHER["available_node_types"]
    workers = {name: t for name, t in types_.items() if name != LAUNCHER["head_node_type"]}
    assert len(workers) >= 2
    for name, node_type in workers.items():
        assert 0 <= node_type["min_workers"] <= node_type["max_workers"] <= LAUNCHER["max_workers"], name
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [t for t in workers.values() if t["resources"].get("GPU", 0) == 0 and t["resources"].get("CPU", 0) >= 1]
    assert gpu and cpu
    assert all(t["docker"]["worker_image"].endswith("-cuda") for t in gpu)   # CPU torch cannot use the GPU


# --- images -----------------------------------------------------------------------------------------------------

def test_the_dockerfile_documents_one_cpu_and_one_cuda_tag_of_the_project_version():
    assert documented_tags() == {f"pixelpred:{VERSION}-cpu", f"pixelpred:{VERSION}-cuda"}


@pytest.mark.parametrize("where, document", [("ray-cluster.yaml", LAUNCHER), *((m["kind"], m) for m in MANIFESTS)])
def test_every_image_is_a_documented_tag(where, document):
    tags = documented_tags()
    images = images_in(document)
    if where not in ("PersistentVolumeClaim", "Service"):
        assert images, where
    for image in images:          # a registry prefix is allowed (nodes pull from one); the tag itself is not
        assert image in tags or image.rsplit("/", 1)[-1] in tags, (where, image)


def test_gpu_pods_run_the_cuda_image_and_the_rest_the_cpu_image():
    for name, template in cluster_pod_templates(RAYCLUSTER["spec"]):
        for container in containers(template):
            wants_gpu = "nvidia.com/gpu" in container.get("resources", {}).get("limits", {})
            assert container["image"].endswith("-cuda" if wants_gpu else "-cpu"), name


# --- KubeRay ----------------------------------------------------------------------------------------------------

def test_ray_version_is_the_same_everywhere():
    assert RAYCLUSTER["spec"]["rayVersion"] == RAYJOB["spec"]["rayClusterSpec"]["rayVersion"] \
        == ray.__version__ == PINS["ray"]


def test_kuberay_kinds_and_the_rayjob_cleans_up():
    assert (RAYCLUSTER["apiVersion"], RAYCLUSTER["kind"]) == ("ray.io/v1", "RayCluster")
    assert (RAYJOB["apiVersion"], RAYJOB["kind"]) == ("ray.io/v1", "RayJob")
    spec = RAYJOB["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] > 0
    # The one-off job's cluster is the long-lived one: edit both or neither.
    assert spec["rayClusterSpec"] == RAYCLUSTER["spec"]


def test_kuberay_worker_groups_cpu_and_gpu_with_bounds():
    groups = RAYCLUSTER["spec"]["workerGroupSpecs"]
    for group in groups:
        assert 0 <= group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"], group["groupName"]
    gpus = [int(c["resources"]["limits"].get("nvidia.com/gpu", 0)) for g in groups for c in containers(g["template"])]
    assert max(gpus) >= 1 and min(gpus) == 0
    assert RAYCLUSTER["spec"]["enableInTreeAutoscaling"] is True      # otherwise min/max would mean nothing


def test_every_ray_pod_gets_s3_credentials_from_a_secret():
    for name, template in cluster_pod_templates(RAYCLUSTER["spec"]):
        for container in containers(template):
            assert any("secretRef" in source for source in container.get("envFrom", [])), name


def test_the_rayjob_points_mlflow_at_the_in_cluster_service():
    env = yaml.safe_load(RAYJOB["spec"]["runtimeEnvYAML"])["env_vars"]
    service = MLFLOW["Service"]["metadata"]
    port = MLFLOW["Service"]["spec"]["ports"][0]["port"]
    assert env["MLFLOW_TRACKING_URI"] == f"http://{service['name']}.{service['namespace']}.svc.cluster.local:{port}"
    assert RAYJOB["metadata"]["namespace"] == RAYCLUSTER["metadata"]["namespace"] == service["namespace"]


# --- the RayJob entrypoint through the project's CLI ------------------------------------------------------------

def train_stage_module() -> types.ModuleType:
    """pipelines.train as the CLI sees it (docstring and the real add_arguments), without the imports its training
    code needs (torch, Ray Train, MLflow: ~6 s): only the imports add_arguments itself uses are executed."""
    path = REPO / "pipelines" / "train.py"
    tree = ast.parse(path.read_text())
    (add_arguments,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "add_arguments"]
    used = {n.id for n in ast.walk(add_arguments) if isinstance(n, ast.Name)}
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))
               and any((a.asname or a.name.split(".")[0]) in used for a in n.names)]
    module = types.ModuleType("pipelines.train", ast.get_docstring(tree))
    exec(compile(ast.Module(body=[*imports, add_arguments], type_ignores=[]), str(path), "exec"), module.__dict__)
    return module


def test_the_rayjob_entrypoint_parses_with_the_project_cli(monkeypatch):
    import pipelines.cli

    seen = []
    stage = sys.modules.get("pipelines.train") or train_stage_module()
    monkeypatch.setitem(sys.modules, "pipelines.train", stage)
    monkeypatch.setattr(stage, "main", seen.append, raising=False)
    argv = shlex.split(RAYJOB["spec"]["entrypoint"])
    assert argv[0] == "pixelpred"
    assert pipelines.cli.main(argv[1:]) == 0
    (args,) = seen
    models = yaml.safe_load((REPO / "params.yaml").read_text())["models"]
    assert args.model in models
    for location in (args.shards, args.out):           # a Path would fold s3:// into a local "s3:/..." directory
        assert isinstance(location, str) and location.startswith(f"s3://{BUCKET}/"), location
    params = args.params if isinstance(args.params, list) else [args.params]
    assert [str(p) for p in params] == ["params.yaml", "infra/params.cluster.yaml"]   # the overlay on top, both read


def test_the_entrypoint_params_files_are_in_the_image():
    for name in ("params.yaml", "infra/params.cluster.yaml"):
        assert (REPO / name).is_file(), name
        assert name in copied_sources(), name


def cpus(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_the_cluster_params_overlay_fits_both_clusters():
    """What the RayJob trains with: checkpoints on S3, and as many workers as the worker groups can hold."""
    from components.config import load_params
    params = load_params([REPO / "params.yaml", REPO / "infra" / "params.cluster.yaml"])
    assert params.ray.storage_path.startswith(f"s3://{BUCKET}/")
    assert params.ray.cpus_per_worker > 0     # 0 means "the driver's cores": the head's, which trains nothing
    gpu = 1 if params.ray.use_gpu else 0
    k8s = [(g["maxReplicas"], cpus(c["resources"]["limits"]["cpu"]), int(c["resources"]["limits"].get("nvidia.com/gpu", 0)))
           for g in RAYCLUSTER["spec"]["workerGroupSpecs"] for c in containers(g["template"])]
    launcher = [(t["max_workers"], t["resources"].get("CPU", 0), t["resources"].get("GPU", 0))
                for name, t in LAUNCHER["available_node_types"].items() if name != LAUNCHER["head_node_type"]]
    for where, groups in (("k8s", k8s), ("launcher", launcher)):
        slots = sum(nodes * min(int(node_cpus // params.ray.cpus_per_worker), node_gpus if gpu else 10 ** 6)
                    for nodes, node_cpus, node_gpus in groups if node_gpus >= gpu)
        assert params.ray.num_workers <= slots, where


# --- MLflow server ----------------------------------------------------------------------------------------------

def mlflow_container() -> dict:
    (container,) = containers(MLFLOW["Deployment"]["spec"]["template"])
    return container


def mlflow_args() -> dict[str, str]:
    container = mlflow_container()
    assert container["command"] == ["mlflow", "server"]
    return dict(arg.split("=", 1) for arg in container["args"])


def test_mlflow_server_flags_exist_in_the_installed_mlflow():
    """Read from mlflow's source rather than importing its CLI (~10 s)."""
    (package,) = importlib.util.find_spec("mlflow").submodule_search_locations
    source = (Path(package) / "cli" / "__init__.py").read_text() + (Path(package) / "utils" / "cli_args.py").read_text()
    defined = set(re.findall(r'"(--[a-z][a-z-]*)"', source))
    assert set(mlflow_args()) <= defined


def test_mlflow_server_stores_artifacts_on_s3_and_listens_on_the_service_port():
    args = mlflow_args()
    assert args["--artifacts-destination"].startswith(f"s3://{BUCKET}/")
    assert args["--host"] == "0.0.0.0"
    service = MLFLOW["Service"]["spec"]
    (port,) = service["ports"]
    (container_port,) = mlflow_container()["ports"]
    assert int(args["--port"]) == container_port["containerPort"] == port["port"]
    assert port["targetPort"] in (container_port["name"], container_port["containerPort"])
    assert service["selector"].items() <= MLFLOW["Deployment"]["spec"]["template"]["metadata"]["labels"].items()


def test_mlflow_allowed_hosts_cover_every_name_of_the_service():
    args = mlflow_args()
    allowed = args["--allowed-hosts"].split(",")
    meta = MLFLOW["Service"]["metadata"]
    port = MLFLOW["Service"]["spec"]["ports"][0]["port"]
    names = [meta["name"], f"{meta['name']}.{meta['namespace']}", f"{meta['name']}.{meta['namespace']}.svc",
             f"{meta['name']}.{meta['namespace']}.svc.cluster.local"]
    # MLflow's rule (mlflow/server/security_utils.py): the Host header equals an entry, or fnmatches one with '*'.
    for host in [f"{n}:{port}" for n in names]:
        assert any(fnmatch.fnmatch(host, a) if "*" in a else host == a for a in allowed), host
    assert "*" not in allowed


def test_mlflow_backend_uri_comes_from_a_secret():
    container = mlflow_container()
    (variable,) = re.fullmatch(r"\$\((\w+)\)", mlflow_args()["--backend-store-uri"]).groups()
    (entry,) = [e for e in container["env"] if e["name"] == variable]
    assert "secretKeyRef" in entry["valueFrom"] and "value" not in entry


def test_mlflow_probes_health_and_a_sqlite_volume_means_one_replica():
    container = mlflow_container()
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"     # exempt from MLflow's Host check
    deployment = MLFLOW["Deployment"]["spec"]
    if MLFLOW["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteOnce"]:
        assert deployment["replicas"] == 1 and deployment["strategy"]["type"] == "Recreate"


# --- credentials ------------------------------------------------------------------------------------------------

INFRA_FILES = sorted(p for p in INFRA.rglob("*") if p.is_file()) + [REPO / ".dockerignore"]
LITERAL = r"\s*[:=]\s*[\"']?(?![\"'$\s])\S"     # a value that is not empty and not a $VARIABLE reference


@pytest.mark.parametrize("path", INFRA_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_literal_credentials(path):
    text = path.read_text()
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text)
    for key in ("aws_secret_access_key", "aws_access_key_id", "aws_session_token", "password", "auth_token"):
        assert not re.search(key + LITERAL, text, re.IGNORECASE), key


def env_entries(node):
    if isinstance(node, dict):
        yield from (e for e in node.get("env", []) if isinstance(e, dict))
        for value in node.values():
            yield from env_entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from env_entries(value)


def test_manifests_hold_no_secret_objects_and_no_inline_secret_env():
    assert not [m for m in MANIFESTS if m["kind"] == "Secret"]
    secretish = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL|URI", re.IGNORECASE)
    inline = [e["name"] for m in MANIFESTS for e in env_entries(m) if secretish.search(e["name"]) and "value" in e]
    assert not inline
    runtime_env = yaml.safe_load(RAYJOB["spec"]["runtimeEnvYAML"])["env_vars"]
    assert not [name for name in runtime_env if secretish.search(name) and name != "MLFLOW_TRACKING_URI"]


def test_every_s3_location_in_the_config_uses_the_one_bucket():
    config = [p for p in INFRA_FILES if p.suffix in (".yaml", "") and p.name != ".dockerignore"]
    assert INFRA / "Dockerfile" in config
    buckets = {b for path in config for b in re.findall(r"s3://([A-Za-z0-9._-]+)", path.read_text())}
    assert buckets == {BUCKET}


# --- Dockerfile and .dockerignore -------------------------------------------------------------------------------

def copied_sources() -> list[str]:
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            words = [w for w in line.split()[1:] if not w.startswith("--")]
            sources += [w.rstrip("/") for w in words[:-1]]
    return sources


def test_dockerfile_installs_the_project_with_the_constraints():
    assert re.search(r"pip install -c constraints\.txt\b[^\n]*\s\.;", DOCKERFILE)
    assert "-e ." not in DOCKERFILE and ".[" not in DOCKERFILE     # the laptop's set, no extras
    assert {"pyproject.toml", "constraints.txt", "params.yaml", "components", "pipelines"} <= set(copied_sources())
    for source in copied_sources():
        assert (REPO / source).exists(), source


def test_dockerfile_bases_are_python_3_11():
    bases = dict(re.findall(r"^FROM (\S+) AS (\S+)$", DOCKERFILE, re.MULTILINE))
    inverted = {stage: image for image, stage in bases.items()}
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", inverted["base-cpu"])
    assert re.fullmatch(r"nvidia/cuda:\$\{CUDA\}-runtime-ubuntu[\d.]+", inverted["base-cuda"])
    assert "python3.11 python3.11-venv" in DOCKERFILE and "python3.11 -m venv" in DOCKERFILE
    assert re.search(r"^FROM base-\$\{VARIANT\}$", DOCKERFILE, re.MULTILINE)


def test_dockerfile_derives_the_cuda_torch_pin_from_the_constraints(tmp_path):
    assert not re.search(r"torch==\d", DOCKERFILE)                  # one torch version: the constraints pin
    (expression,) = re.findall(r"sed -i -e '([^']+)' constraints\.txt", DOCKERFILE)
    copy_ = tmp_path / "constraints.txt"
    copy_.write_text((REPO / "constraints.txt").read_text())
    subprocess.run(["sed", "-i", "-e", expression, str(copy_)], check=True)
    before = (REPO / "constraints.txt").read_text().splitlines()
    after = copy_.read_text().splitlines()
    assert PINS["torch"].endswith("+cpu")
    assert f"torch=={PINS['torch'].removesuffix('+cpu')}" in after
    assert [a for a, b in zip(after, before) if a != b] == [f"torch=={PINS['torch'].removesuffix('+cpu')}"]


def test_dockerfile_runs_as_a_non_root_user_with_pixelpred_on_path():
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r"^ENV PATH=/opt/venv/bin:\$PATH", DOCKERFILE, re.MULTILINE)
    assert re.search(r'^CMD \["pixelpred"', DOCKERFILE, re.MULTILINE)
    assert re.search(r"^WORKDIR /\S+", DOCKERFILE, re.MULTILINE)


def test_dockerignore_keeps_state_and_data_out_of_the_build_context():
    entries = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv", "data", "results", "mlflow", ".ray", ".dvc/cache", ".git", ".dvc/config.local"} <= entries
    for source in copied_sources():                          # nothing the Dockerfile copies is ignored
        assert not any(fnmatch.fnmatch(source, e) or source.startswith(e + "/") for e in entries), source
