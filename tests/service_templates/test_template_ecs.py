"""The ECS template: its Dockerfile and deployment templates, and ci/render_deploy_files.py run for real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "service_templates" / "ecs"
SCRIPT = TEMPLATE / "ci" / "render_deploy_files.py"
TASKDEF_PLACEHOLDERS = (
    "family",
    "execution_role_arn",
    "task_role_arn",
    "container_name",
    "container_port",
    "cpu",
    "memory",
    "log_group",
    "region",
)


def environment(name: str, account: str, **overrides: Any) -> dict[str, Any]:
    """One DEPLOY_ENVIRONMENTS entry, with the platform's naming (config/names.py)."""
    env: dict[str, Any] = {
        "name": name,
        "account": account,
        "region": "eu-west-1",
        "family": f"acme-{name}-orders",
        "execution_role_arn": f"arn:aws:iam::{account}:role/acme-{name}-ecs-task-execution",
        "task_role_arn": f"arn:aws:iam::{account}:role/acme-{name}-orders-task",
        "log_group": f"/acme/{name}/orders",
        "container_name": "orders",
        "container_port": 8080,
        "cpu": 256,
        "memory": 512,
    }
    env.update(overrides)
    return env


DEV = environment("dev", "222222222222")
PROD = environment("prod", "333333333333", cpu=1024, memory=2048, region="eu-central-1")


def render(tmp_path: Path, environments: Any, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "DEPLOY_ENVIRONMENTS"}
    if environments is not None:
        env["DEPLOY_ENVIRONMENTS"] = environments if isinstance(environments, str) else json.dumps(environments)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd or tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_templates_hold_the_placeholders() -> None:
    taskdef = (TEMPLATE / "taskdef.json").read_text(encoding="utf-8")
    for key in TASKDEF_PLACEHOLDERS:
        assert "${" + key + "}" in taskdef, key
    assert '"image": "<IMAGE1_NAME>"' in taskdef
    assert '"containerPort": ${container_port}' in taskdef
    appspec = yaml.safe_load((TEMPLATE / "appspec.yaml").read_text(encoding="utf-8"))
    assert str(appspec["version"]) == "0.0"
    (resource,) = appspec["Resources"]
    target = resource["TargetService"]
    assert target["Type"] == "AWS::ECS::Service"
    assert target["Properties"]["TaskDefinition"] == "<TASK_DEFINITION>"
    assert target["Properties"]["LoadBalancerInfo"] == {
        "ContainerName": "${container_name}",
        "ContainerPort": "${container_port}",
    }


def test_dockerfile() -> None:
    lines = [line.strip() for line in (TEMPLATE / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    assert "FROM public.ecr.aws/docker/library/python:3.13-slim" in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert "EXPOSE 8080" in lines
    assert any(line.startswith("HEALTHCHECK") for line in lines)
    assert "urllib" in (TEMPLATE / "app" / "healthcheck.py").read_text(encoding="utf-8")
    assert lines[-1].startswith("CMD ")
    # A build arg would leave the CodeArtifact token in the image history.
    assert not any(re.match(r"ARG .*(INDEX|TOKEN)", line) for line in lines)


def test_renders_one_task_definition_per_environment(tmp_path: Path) -> None:
    result = render(tmp_path, [DEV, PROD], "out")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["appspec.yaml", "taskdef-dev.json", "taskdef-prod.json"]

    for env in (DEV, PROD):
        taskdef = json.loads((out / f"taskdef-{env['name']}.json").read_text())
        assert taskdef["family"] == env["family"]
        assert taskdef["executionRoleArn"] == env["execution_role_arn"]
        assert taskdef["taskRoleArn"] == env["task_role_arn"]
        assert taskdef["networkMode"] == "awsvpc"
        assert taskdef["requiresCompatibilities"] == ["FARGATE"]
        assert taskdef["runtimePlatform"] == {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}
        # Task-level cpu and memory are strings in a task definition.
        assert taskdef["cpu"] == str(env["cpu"])
        assert taskdef["memory"] == str(env["memory"])
        (container,) = taskdef["containerDefinitions"]
        assert container["name"] == "orders"
        assert container["image"] == "<IMAGE1_NAME>"
        assert container["essential"] is True
        assert container["readonlyRootFilesystem"] is True
        assert container["portMappings"] == [{"containerPort": 8080, "protocol": "tcp"}]
        assert {"name": "PORT", "value": "8080"} in container["environment"]
        assert container["logConfiguration"] == {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": env["log_group"],
                "awslogs-region": env["region"],
                "awslogs-stream-prefix": "orders",
            },
        }
        assert "${" not in json.dumps(taskdef)

    appspec_text = (out / "appspec.yaml").read_text()
    appspec = yaml.safe_load(appspec_text)
    properties = appspec["Resources"][0]["TargetService"]["Properties"]
    assert properties["TaskDefinition"] == "<TASK_DEFINITION>"
    assert properties["LoadBalancerInfo"] == {"ContainerName": "orders", "ContainerPort": 8080}
    assert "${" not in appspec_text


def test_default_output_directory_is_dist(tmp_path: Path) -> None:
    result = render(tmp_path, [DEV])
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "dist" / "taskdef-dev.json").is_file()
    assert (tmp_path / "dist" / "appspec.yaml").is_file()


@pytest.mark.parametrize(
    ("environments", "message"),
    [
        ([DEV, {**PROD, "container_port": 9090}], "container_port must be the same in every environment"),
        ([DEV, {**PROD, "container_name": "api"}], "container_name must be the same in every environment"),
        (None, "DEPLOY_ENVIRONMENTS is not set"),
        ("", "DEPLOY_ENVIRONMENTS is not set"),
        ("[{", "DEPLOY_ENVIRONMENTS is not valid JSON"),
        ({"name": "dev"}, "must be a non-empty JSON list"),
        ([], "must be a non-empty JSON list"),
        ([{k: v for k, v in DEV.items() if k != "log_group"}], "DEPLOY_ENVIRONMENTS[0] (dev): missing log_group"),
        ([{**DEV, "container_port": "8080"}], "container_port must be a JSON number"),
        ([{**DEV, "memory": True}], "memory must be a JSON number"),
        ([{**DEV, "container_port": 70000}], "container_port is out of range"),
        ([{**DEV, "family": 'x", "evil": "y'}], "family is not valid"),
        ([DEV, {**DEV}], "environment names must be unique"),
    ],
)
def test_errors_are_clear_and_fail_the_build(tmp_path: Path, environments: Any, message: str) -> None:
    result = render(tmp_path, environments, "out")
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.startswith("render_deploy_files: error: ")
    assert not (tmp_path / "out").exists(), "nothing is written when anything is wrong"


def template_copy(tmp_path: Path) -> Path:
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in ("taskdef.json", "appspec.yaml"):
        shutil.copy(TEMPLATE / name, templates / name)
    return templates


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        ("taskdef.json", "${family}", "${famly}", "unknown placeholder(s) ${famly}"),
        ("taskdef.json", '"${cpu}"', "${cpu}", 'task-level "cpu" must be a string'),
        ("taskdef.json", "<IMAGE1_NAME>", "nginx", "<IMAGE1_NAME>"),
        ("taskdef.json", "${container_name}", "other", "no container named 'orders'"),
        ("appspec.yaml", "${container_port}", "${family}", "unknown placeholder(s) ${family}"),
        ("appspec.yaml", "<TASK_DEFINITION>", "arn:x", "<TASK_DEFINITION>"),
    ],
)
def test_template_mistakes_are_caught(tmp_path: Path, name: str, old: str, new: str, message: str) -> None:
    templates = template_copy(tmp_path)
    path = templates / name
    path.write_text(path.read_text().replace(old, new, 1))
    result = render(tmp_path, [DEV], "out", "--template-dir", str(templates))
    assert result.returncode == 1
    assert message in result.stderr
