"""deploy/: the Helm values for Dagster's chart, the manifests the chart does not create and the ECS
task definitions, validated against the Kubernetes API models (the `kubernetes` client), Dagster's
own config schemas and botocore's ECS service model, and kept in step with configs/dagster/ and
the `prod` profile."""

from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes.client as k8s
import pytest
import yaml
from dagster._config import process_config

from luth_pipeline.core.config import load_profile
from luth_pipeline.core.config.profile import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
PROD_INSTANCE = REPO_ROOT / "configs" / "dagster" / "dagster.prod.yaml"
ECS_LAUNCHER = REPO_ROOT / "configs" / "dagster" / "dagster.ecs.yaml"
# Every ${VAR} the deploy files expect from the person deploying (README § Run on a cluster).
DEPLOY_ENV = {
    "LUTH_WORK_STORAGE_CLASS": "efs-sc", "OPENAI_API_KEY": "sk-test", "GEMINI_API_KEY": "g-test", "HF_TOKEN": "hf_test",
    "DAGSTER_PG_PASSWORD": "pw", "LUTH_RUN_ROLE_ARN": "arn:aws:iam::123456789012:role/luth-run",
    "LUTH_IMAGE": "r/luth-cpu:1", "LUTH_TRAIN_IMAGE": "r/luth-train:1", "LUTH_SERVE_IMAGE": "r/luth-serve:1",
    "LUTH_S3_BUCKET": "luth-prod", "LUTH_TASK_ROLE_ARN": "arn:aws:iam::123456789012:role/luth-task",
    "LUTH_EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/luth-exec", "LUTH_EFS_ID": "fs-0123456789abcdef0",
    "AWS_REGION": "eu-west-3", "DAGSTER_PG_HOST": "db.internal",
    "LUTH_SECRETS_ARN_PREFIX": "arn:aws:secretsmanager:eu-west-3:123456789012:secret",
}


def substitute(text: str, path: Path) -> str:
    """What `envsubst` does, failing on a variable the deploy environment does not document."""
    missing = sorted(set(re.findall(r"\$\{(\w+)\}", text)) - set(DEPLOY_ENV))
    assert not missing, f"{path.name} expects undocumented variables {missing}"
    return re.sub(r"\$\{(\w+)\}", lambda m: DEPLOY_ENV[m.group(1)], text)


def k8s_model(data, type_name: str, where: str, partial: bool = False):
    """Build the `kubernetes` client model `type_name` from a manifest fragment, strictly: an unknown
    field, a wrong type or a missing required field is an error naming its path. `partial`: a
    fragment Dagster merges into a model (run_k8s_config), so the top level may lack required fields."""
    if type_name.startswith("list["):
        assert isinstance(data, list), f"{where}: expected a list, got {type(data).__name__}"
        return [k8s_model(item, type_name[5:-1], f"{where}[{i}]") for i, item in enumerate(data)]
    if type_name.startswith("dict["):
        assert isinstance(data, dict), f"{where}: expected a mapping"
        value_type = type_name[5:-1].split(", ", 1)[1]
        return {key: k8s_model(value, value_type, f"{where}.{key}") for key, value in data.items()}
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in simple:
        assert isinstance(data, simple[type_name]) and not (type_name == "int" and isinstance(data, bool)), \
            f"{where}: expected {type_name}, got {data!r}"
        return data
    if type_name in ("object", "datetime"):
        return data
    cls = getattr(k8s, type_name)
    assert isinstance(data, dict), f"{where}: expected a {type_name} mapping, got {data!r}"
    by_json_name = {json_name: attr for attr, json_name in cls.attribute_map.items()}
    unknown = sorted(set(data) - set(by_json_name))
    assert not unknown, f"{where}: {unknown} are not fields of {type_name}"
    kwargs = {by_json_name[key]: k8s_model(value, cls.openapi_types[by_json_name[key]], f"{where}.{key}")
              for key, value in data.items()}
    if partial:
        return kwargs
    try:
        return cls(**kwargs)  # the client's own checks: required fields, enums
    except ValueError as exc:
        raise AssertionError(f"{where}: {exc}") from exc


KINDS = {"PersistentVolumeClaim": "V1PersistentVolumeClaim", "Secret": "V1Secret", "ServiceAccount": "V1ServiceAccount",
         "Role": "V1Role", "RoleBinding": "V1RoleBinding", "Deployment": "V1Deployment", "Service": "V1Service"}


def manifests() -> list[dict]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(substitute(path.read_text(), path)) if doc]
    return docs


def values() -> dict:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def test_manifests_are_valid_kubernetes_objects():
    docs = manifests()
    assert {doc["kind"] for doc in docs} == set(KINDS)
    for doc in docs:
        k8s_model(doc, KINDS[doc["kind"]], f"{doc['kind']}/{doc['metadata']['name']}")
    # The validator rejects what the API server would: prove it on a typo and a missing field.
    with pytest.raises(AssertionError, match="accesModes"):
        k8s_model({"spec": {"accesModes": ["ReadWriteMany"]}}, "V1PersistentVolumeClaim", "pvc")
    with pytest.raises(AssertionError, match="must not be `None`"):
        k8s_model({"kind": "Role", "rules": [{"resources": ["jobs"]}]}, "V1Role", "role")


def test_values_kubernetes_fragments_are_valid():
    """Every part of the values the chart copies verbatim into pod specs."""
    deployment = values()["dagster-user-deployments"]["deployments"][0]
    k8s_model(deployment["env"], "list[V1EnvVar]", "deployment.env")
    k8s_model(deployment["volumes"], "list[V1Volume]", "deployment.volumes")
    k8s_model(deployment["volumeMounts"], "list[V1VolumeMount]", "deployment.volumeMounts")
    k8s_model(deployment["resources"], "V1ResourceRequirements", "deployment.resources")
    k8s_model(deployment["podSecurityContext"], "V1PodSecurityContext", "deployment.podSecurityContext")
    k8s_model(deployment["securityContext"], "V1SecurityContext", "deployment.securityContext")
    launcher = values()["runLauncher"]["config"]["k8sRunLauncher"]
    k8s_model(launcher["volumes"], "list[V1Volume]", "k8sRunLauncher.volumes")
    k8s_model(launcher["volumeMounts"], "list[V1VolumeMount]", "k8sRunLauncher.volumeMounts")
    k8s_model(launcher["runK8sConfig"]["containerConfig"], "V1Container", "runK8sConfig.containerConfig", partial=True)
    k8s_model(launcher["runK8sConfig"]["podSpecConfig"], "V1PodSpec", "runK8sConfig.podSpecConfig", partial=True)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def chart_instance(chart_values: dict) -> dict:
    """The instance sections the chart renders from its values (its configmap-instance template),
    restated here so Dagster's own schemas can check them."""
    launcher = chart_values["runLauncher"]["config"]["k8sRunLauncher"]
    run_k8s = launcher["runK8sConfig"]
    compute = chart_values["computeLogManager"]["config"]["s3ComputeLogManager"]
    daemon = chart_values["dagsterDaemon"]
    concurrency = chart_values["concurrency"]
    pg = chart_values["postgresql"]
    return {
        "storage": {"postgres": {"postgres_db": {
            "hostname": pg["postgresqlHost"], "port": pg["service"]["port"], "username": pg["postgresqlUsername"],
            "password": {"env": "DAGSTER_PG_PASSWORD"}, "db_name": pg["postgresqlDatabase"]}}},
        "compute_logs": {"module": "dagster_aws.s3.compute_log_manager", "class": "S3ComputeLogManager",
                         "config": {_snake(key): value for key, value in compute.items()}},
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator",
                            "config": daemon["runCoordinator"]["config"]["queuedRunCoordinator"]},
        "concurrency": {
            "runs": {"max_concurrent_runs": concurrency["runs"]["maxConcurrentRuns"],
                     "tag_concurrency_limits": concurrency["runs"]["tagConcurrencyLimits"]},
            "pools": {"default_limit": concurrency["pools"]["defaultLimit"],
                      "granularity": concurrency["pools"]["granularity"]}},
        "run_launcher": {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": {
            "job_namespace": "luth", "instance_config_map": "dagster-instance", "dagster_home": chart_values.get("dagsterHome", "/opt/dagster/dagster_home"),
            "service_account_name": run_k8s["podSpecConfig"]["serviceAccountName"],
            "image_pull_policy": launcher["imagePullPolicy"], "load_incluster_config": launcher["loadInclusterConfig"],
            "env_config_maps": launcher["envConfigMaps"], "env_secrets": [s["name"] for s in launcher["envSecrets"]],
            "env_vars": launcher["envVars"], "volume_mounts": launcher["volumeMounts"], "volumes": launcher["volumes"],
            "fail_pod_on_run_failure": launcher["failPodOnRunFailure"],
            "run_k8s_config": {"container_config": run_k8s["containerConfig"],
                               "pod_spec_config": {_snake(key): value for key, value in run_k8s["podSpecConfig"].items()
                                                   if key != "serviceAccountName"}}}},
        "run_monitoring": {_snake(key): value for key, value in daemon["runMonitoring"].items()},
        "run_retries": {_snake(key): value for key, value in daemon["runRetries"].items()},
        "telemetry": chart_values["telemetry"],
    }


def test_values_are_a_valid_dagster_instance(monkeypatch):
    from dagster._core.instance.config import dagster_instance_config_schema
    from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
    from dagster_k8s import K8sRunLauncher

    for key, value in DEPLOY_ENV.items():
        monkeypatch.setenv(key, value)
    instance = chart_instance(values())
    for config_type, section in ((dagster_instance_config_schema(), instance),
                                 (K8sRunLauncher.config_type(), instance["run_launcher"]["config"]),
                                 (S3ComputeLogManager.config_type(), instance["compute_logs"]["config"])):
        result = process_config(config_type, section)
        assert result.success, [error.message for error in result.errors]


def test_values_and_the_instance_file_agree():
    """The Helm route and the instance-file route (dagster.prod.yaml) launch the same pods."""
    chart = chart_instance(values())
    prod = yaml.safe_load(PROD_INSTANCE.read_text())
    chart_launcher, prod_launcher = chart["run_launcher"]["config"], prod["run_launcher"]["config"]
    from dagster_k8s.job import UserDefinedDagsterK8sConfig

    for key in ("service_account_name", "env_vars", "volume_mounts", "volumes",
                "fail_pod_on_run_failure", "image_pull_policy", "dagster_home", "instance_config_map"):
        assert chart_launcher[key] == prod_launcher[key], key
    # camelCase (chart) and snake_case (file) are the same pod config once dagster-k8s normalises them.
    assert (UserDefinedDagsterK8sConfig.from_dict(chart_launcher["run_k8s_config"])
            == UserDefinedDagsterK8sConfig.from_dict(prod_launcher["run_k8s_config"]))
    # The chart hands the Postgres password to pods itself; the file reads DAGSTER_PG_* from a Secret.
    assert set(prod_launcher["env_secrets"]) - set(chart_launcher["env_secrets"]) == {"dagster-postgres"}
    for section in ("concurrency", "run_monitoring", "run_retries"):
        assert chart[section] == prod[section], section
    for key in ("prefix", "upload_interval", "skip_empty_files"):
        assert chart["compute_logs"]["config"][key] == prod["compute_logs"]["config"][key]


def test_values_reference_what_deploy_k8s_creates():
    docs = {(doc["kind"], doc["metadata"]["name"]): doc for doc in manifests()}
    chart = values()
    launcher = chart["runLauncher"]["config"]["k8sRunLauncher"]
    deployment = chart["dagster-user-deployments"]["deployments"][0]
    for volumes in (launcher["volumes"], deployment["volumes"]):
        for volume in volumes:
            assert ("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"]) in docs
    assert docs[("PersistentVolumeClaim", "luth-work")]["spec"]["accessModes"] == ["ReadWriteMany"]
    for secret in launcher["envSecrets"] + deployment["envSecrets"]:
        assert ("Secret", secret["name"]) in docs
    assert "postgresql-password" in docs[("Secret", chart["global"]["postgresqlSecretName"])]["stringData"]
    account = launcher["runK8sConfig"]["podSpecConfig"]["serviceAccountName"]
    assert ("ServiceAccount", account) in docs
    binding = docs[("RoleBinding", account)]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account}]
    rules = docs[("Role", binding["roleRef"]["name"])]["rules"]
    assert any("jobs" in rule["resources"] and "create" in rule["verbs"] for rule in rules), \
        "the k8s executor's run pods must be allowed to create step Jobs"
    # The profile's work_dir is the mounted volume; pods run as the images' non-root user.
    assert {"name": "luth-work", "mountPath": load_profile("prod").work_dir} in launcher["volumeMounts"]
    assert deployment["podSecurityContext"]["runAsUser"] == 10001
    # The user-code deployment serves our definitions from the orchestrator image.
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "luth_pipeline.definitions"]
    assert deployment["image"]["repository"].endswith("/luth-cpu")
    env = {item["name"] for item in deployment["env"]}
    assert {"LUTH_PROFILE", "LUTH_IMAGE", "LUTH_TRAIN_IMAGE", "LUTH_SERVE_IMAGE", "LUTH_S3_BUCKET"} <= env
    assert set(launcher["envVars"]) >= {"LUTH_IMAGE", "LUTH_TRAIN_IMAGE", "LUTH_SERVE_IMAGE"}


def test_in_cluster_teacher_is_the_prod_profiles_vllm_endpoint():
    from urllib.parse import urlparse

    docs = {(doc["kind"], doc["metadata"]["name"]): doc for doc in manifests()}
    url = urlparse(load_profile("prod").llm.endpoints["vllm_serve"].base_url)
    service = docs[("Service", url.hostname)]
    assert url.port in [port["port"] for port in service["spec"]["ports"]]
    pod = docs[("Deployment", url.hostname)]["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    container = pod["spec"]["containers"][0]
    assert container["image"] == DEPLOY_ENV["LUTH_SERVE_IMAGE"] and container["command"][:2] == ["vllm", "serve"]
    tensor_parallel = int(container["command"][container["command"].index("--tensor-parallel-size") + 1])
    assert container["resources"]["limits"]["nvidia.com/gpu"] == str(tensor_parallel)


def task_definitions() -> dict[str, dict]:
    return {path.stem: json.loads(substitute(path.read_text(), path)) for path in sorted((DEPLOY / "ecs").glob("*.json"))}


def test_ecs_task_definitions_match_botocores_ecs_model():
    import botocore.session
    from botocore.validate import ParamValidator

    shape = botocore.session.get_session().get_service_model("ecs").operation_model("RegisterTaskDefinition").input_shape
    definitions = task_definitions()
    assert set(definitions) == {"luth-cpu", "luth-train", "luth-serve"}
    for name, definition in definitions.items():
        report = ParamValidator().validate(definition, shape)
        assert not report.has_errors(), f"{name}: {report.generate_report()}"
    broken = {**definitions["luth-cpu"], "containerDefinitions": [{"name": "run", "imag": "x"}]}
    assert ParamValidator().validate(broken, shape).has_errors()


def test_ecs_task_definitions_fit_the_launcher_and_the_profile():
    launcher = yaml.safe_load(ECS_LAUNCHER.read_text())["run_launcher"]["config"]
    cluster = load_profile("prod").cluster
    images = {"cpu": "LUTH_IMAGE", "train": "LUTH_TRAIN_IMAGE", "serve": "LUTH_SERVE_IMAGE"}
    for role, variable in images.items():
        definition = task_definitions()[getattr(cluster.ecs_task_definitions, role)]
        container = definition["containerDefinitions"][0]
        assert container["name"] == launcher["container_name"]
        assert container["image"] == DEPLOY_ENV[variable]
        assert {"sourceVolume": "luth-work", "containerPath": load_profile("prod").work_dir} in container["mountPoints"]
        env = {item["name"] for item in container["environment"]}
        assert {"LUTH_PROFILE", "LUTH_S3_BUCKET", *images.values()} <= env
        assert container["user"] == "10001"
        gpu = role != "cpu"
        assert ("EC2" in definition["requiresCompatibilities"]) and (gpu == ("FARGATE" not in definition["requiresCompatibilities"]))
        assert any(r["type"] == "GPU" for r in container.get("resourceRequirements", [])) == gpu
    # The instance's secrets come from Secrets Manager, not from plain environment values.
    secrets = {s["name"] for s in task_definitions()["luth-cpu"]["containerDefinitions"][0]["secrets"]}
    assert {"DAGSTER_PG_PASSWORD", "OPENAI_API_KEY", "GEMINI_API_KEY", "HF_TOKEN"} <= secrets
