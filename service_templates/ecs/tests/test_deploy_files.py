"""ci/render_deploy_files.py on this repository's taskdef.json and appspec.yaml."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ci"))

import render_deploy_files as render  # noqa: E402 - found through the path above


def environment(name: str, account: str, **overrides: Any) -> dict[str, Any]:
    env = {
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


def render_all(tmp_path: Path, *envs: dict[str, Any]) -> Path:
    environments = render.load_environments(json.dumps(list(envs)))
    render.render(environments, ROOT, tmp_path)
    return tmp_path


def test_renders_this_repositorys_templates(tmp_path: Path) -> None:
    out = render_all(tmp_path, environment("dev", "222222222222"), environment("prod", "333333333333", cpu=512))
    prod = json.loads((out / "taskdef-prod.json").read_text())
    assert prod["family"] == "acme-prod-orders"
    assert (prod["cpu"], prod["memory"]) == ("512", "512")
    container = prod["containerDefinitions"][0]
    assert container["image"] == "<IMAGE1_NAME>"
    assert container["portMappings"][0]["containerPort"] == 8080
    assert {"name": "PORT", "value": "8080"} in container["environment"]
    assert container["logConfiguration"]["options"]["awslogs-group"] == "/acme/prod/orders"
    appspec = (out / "appspec.yaml").read_text()
    assert "TaskDefinition: <TASK_DEFINITION>" in appspec
    assert 'ContainerName: "orders"' in appspec
    assert "ContainerPort: 8080" in appspec


def test_container_port_must_match_across_environments() -> None:
    envs = [environment("dev", "222222222222"), environment("prod", "333333333333", container_port=9090)]
    with pytest.raises(render.RenderError, match="container_port must be the same"):
        render.load_environments(json.dumps(envs))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "is not set"),
        ("{not json", "not valid JSON"),
        ("[]", "non-empty JSON list"),
        (json.dumps([{"name": "dev"}]), "missing account"),
        (json.dumps([environment("dev", "222222222222", cpu="256")]), "cpu must be a JSON number"),
        (
            json.dumps([environment("dev", "222222222222", task_role_arn="arn:aws:iam::999999999999:role/x")]),
            "not in account",
        ),
    ],
)
def test_rejects_bad_environments(raw: str | None, message: str) -> None:
    with pytest.raises(render.RenderError, match=message):
        render.load_environments(raw)


def test_unknown_placeholder_is_an_error() -> None:
    with pytest.raises(render.RenderError, match=r"unknown placeholder\(s\) \$\{nope\}"):
        render.substitute('{"a": "${nope}"}', {"family": "x"}, "test")


def test_escape_and_unclosed_placeholders() -> None:
    assert render.substitute("echo $${HOME} ${family} $PATH", {"family": "x"}, "test") == "echo ${HOME} x $PATH"
    with pytest.raises(render.RenderError, match="line 2"):
        render.substitute("ok\n${family", {"family": "x"}, "test")
