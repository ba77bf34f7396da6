"""The config model: the default file, the JSON schema, and every bad-config case by its message."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config import ConfigError, load_config, parse_config
from config.loader import SCHEMA_FILE, export_schema
from config.model import PREDEFINED_DEPLOYMENT_CONFIGS, PlatformConfig, TrafficShift
from config.names import Names
from tests.config_cases import example_config, only_problem, problems_of


@pytest.fixture()
def raw() -> dict[str, Any]:
    return example_config()


def test_default_config_describes_the_example_platform() -> None:
    config = load_config()
    assert config.tooling.account == "111111111111"
    assert [e.name for e in config.environments] == ["dev", "prod"]
    assert [e.approval for e in config.environments] == [False, True]
    assert sorted(s.platform for s in config.services) == ["ec2", "ecs", "lambda"]
    for env in config.environments:
        assert len(env.account) == 12 and env.account.isdigit()


def test_exported_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text() == export_schema(), (
        "config/platform.schema.json is stale: run `make schema` (python -m tools.export_schema)"
    )


def test_schema_describes_every_top_level_field() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert set(schema["properties"]) == set(PlatformConfig.model_fields)
    assert schema["required"] == ["name", "tooling", "environments"]


def test_account_id_must_have_12_digits(raw: dict[str, Any]) -> None:
    raw["environments"][0]["account"] = "22222222222"
    assert only_problem(raw) == 'environments[0].account: got "22222222222"; allowed: exactly 12 digits'


def test_unquoted_account_that_lost_leading_zeros_is_explained(raw: dict[str, Any]) -> None:
    raw["tooling"]["account"] = 11111111111  # what YAML makes of 011111111111 without quotes
    message = only_problem(raw)
    assert message.startswith("tooling.account: got 11111111111; allowed: exactly 12 digits")
    assert "quote account ids" in message


def test_unquoted_twelve_digit_account_is_accepted(raw: dict[str, Any]) -> None:
    raw["tooling"]["account"] = 111111111111
    assert parse_config(raw).tooling.account == "111111111111"


def test_duplicate_service_name(raw: dict[str, Any]) -> None:
    raw["services"].append(dict(raw["services"][1]))
    assert only_problem(raw) == "services: names ['orders'] used more than once; allowed: unique names"


def test_unknown_platform(raw: dict[str, Any]) -> None:
    raw["services"][0]["platform"] = "kubernetes"
    raw["services"][0].pop("deployment_config")
    raw["services"][0].pop("environment_overrides")
    assert only_problem(raw) == "services[0].platform: got \"kubernetes\"; allowed: 'ec2', 'ecs' or 'lambda'"


def test_unknown_deployment_config_name(raw: dict[str, Any]) -> None:
    raw["services"][0]["deployment_config"] = "TwoAtATime"
    message = only_problem(raw)
    assert message.startswith("services[0].deployment_config: 'TwoAtATime' is not a CodeDeploy configuration; ")
    assert "allowed for ec2: OneAtATime, HalfAtATime, AllAtOnce" in message


def test_environment_without_account(raw: dict[str, Any]) -> None:
    del raw["environments"][1]["account"]
    assert only_problem(raw) == (
        "environments[1].account: missing; required: 12-digit AWS account id of this environment."
    )


@pytest.mark.parametrize("bad_name", ["Orders", "orders_api", "-orders", "orders-", "o", "a" * 25, "orders--api"])
def test_service_name_must_be_a_valid_resource_name(raw: dict[str, Any], bad_name: str) -> None:
    raw["services"][1]["name"] = bad_name
    message = only_problem(raw)
    assert message.startswith(f"services[1].name: got {json.dumps(bad_name)}; allowed: 2 to 24 characters")
    assert "lowercase letters, digits and single hyphens" in message


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert caught.value.problems == [
        f"config file not found: {str(missing)!r}; allowed: a path to a YAML file "
        "(cdk synth -c config=path/to/platform.yaml), or no -c config for the default"
    ]


def test_yaml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: acme\nservices: [unclosed\n")
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    assert caught.value.problems[0].startswith("not valid YAML:")


def test_unknown_field_is_named(raw: dict[str, Any]) -> None:
    raw["services"][0]["platfrom"] = "ec2"
    assert only_problem(raw).startswith("services[0].platfrom: unknown field")


def test_every_problem_is_reported_at_once(raw: dict[str, Any]) -> None:
    raw["tooling"]["account"] = "1"
    raw["services"][0]["name"] = "Bad_Name"
    raw["services"][1]["platform"] = "k8s"
    paths = [p.split(":")[0] for p in problems_of(raw)]
    assert paths == ["tooling.account", "services[0].name", "services[1].platform"]


# ----- deployment configurations against platforms -----


def test_ecs_config_on_lambda_service(raw: dict[str, Any]) -> None:
    raw["services"][2]["deployment_config"] = "ECSCanary10Percent5Minutes"
    message = only_problem(raw)
    assert message.startswith(
        "services[2].deployment_config: 'ECSCanary10Percent5Minutes' is an ECS configuration; allowed for lambda: "
    )
    assert "LambdaCanary10Percent5Minutes" in message


def test_override_is_checked_against_the_platform(raw: dict[str, Any]) -> None:
    raw["services"][1]["environment_overrides"]["dev"]["deployment_config"] = "AllAtOnce"
    message = only_problem(raw)
    assert message.startswith(
        "services[1].environment_overrides.dev.deployment_config: 'AllAtOnce' is an EC2 configuration; allowed for ecs:"
    )


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("percentage", 0, "got 0; allowed: at least 1"),
        ("percentage", 100, "got 100; allowed: at most 99"),
        ("interval_minutes", 0, "got 0; allowed: at least 1"),
    ],
)
def test_custom_shift_bounds(raw: dict[str, Any], field: str, value: int, expected: str) -> None:
    raw["services"][2]["deployment_config"][field] = value
    assert only_problem(raw) == f"services[2].deployment_config.{field}: {expected}"


def test_traffic_shift_on_ec2_is_rejected(raw: dict[str, Any]) -> None:
    raw["services"][0]["deployment_config"] = {"type": "canary", "percentage": 10, "interval_minutes": 5}
    assert only_problem(raw).startswith(
        "services[0].deployment_config: a canary traffic shift does not apply to in-place EC2 deployments"
    )


def test_minimum_healthy_hosts_needs_exactly_one_measure(raw: dict[str, Any]) -> None:
    raw["services"][0]["deployment_config"] = {"type": "minimum_healthy_hosts", "percent": 50, "count": 1}
    assert only_problem(raw) == (
        "services[0].deployment_config: got {...}; allowed: exactly one of `percent` or `count`"
    )


def test_minimum_healthy_hosts_on_lambda_is_rejected(raw: dict[str, Any]) -> None:
    raw["services"][2]["deployment_config"] = {"type": "minimum_healthy_hosts", "percent": 50}
    assert only_problem(raw).startswith(
        "services[2].deployment_config: minimum_healthy_hosts applies to EC2 only; allowed for lambda:"
    )


def test_unknown_custom_type(raw: dict[str, Any]) -> None:
    raw["services"][2]["deployment_config"] = {"type": "blue-green"}
    assert only_problem(raw).startswith("services[2].deployment_config: got {...}; allowed: a predefined CodeDeploy")


def test_resolved_deployment_config_per_environment() -> None:
    config = load_config()
    storefront, orders, pricing = config.services
    assert storefront.deployment_config_for("dev") == "AllAtOnce"
    assert storefront.deployment_config_for("prod") == "HalfAtATime"
    assert orders.deployment_config_for("prod") == "ECSCanary10Percent5Minutes"
    assert pricing.deployment_config_for("prod") == TrafficShift(type="linear", percentage=20, interval_minutes=2)


def test_predefined_names_are_disjoint_between_platforms() -> None:
    seen: set[str] = set()
    for names in PREDEFINED_DEPLOYMENT_CONFIGS.values():
        assert not seen & set(names)
        seen |= set(names)


# ----- environments and services -----


def test_service_environment_must_exist(raw: dict[str, Any]) -> None:
    raw["services"][0]["environments"] = ["dev", "qa"]
    assert only_problem(raw) == (
        "services[0].environments: 'qa' (storefront) is not an environment; allowed: dev, prod"
    )


def test_service_environments_keep_config_order(raw: dict[str, Any]) -> None:
    raw["services"][0]["environments"] = ["prod", "dev"]
    assert "in that order" in only_problem(raw)


def test_settings_block_of_another_platform(raw: dict[str, Any]) -> None:
    raw["services"][0]["ecs"] = {"cpu": 512}
    assert only_problem(raw) == "services[0]: settings block `ecs` given for a service on ec2; allowed: `ec2` only"


def test_cross_region_environment_is_refused_with_the_reason(raw: dict[str, Any]) -> None:
    raw["environments"][1]["region"] = "us-east-1"
    message = only_problem(raw)
    assert message.startswith("environments[1].region: 'us-east-1' differs from tooling.region 'eu-west-1'")


def test_log_retention_must_be_a_cloudwatch_value(raw: dict[str, Any]) -> None:
    raw["log_retention_days"] = 45
    assert only_problem(raw).startswith("log_retention_days: 45 is not a CloudWatch Logs retention; allowed: 1, 3")


def test_names_fit_aws_limits_at_maximum_lengths(raw: dict[str, Any]) -> None:
    raw["name"] = "p" * 12
    raw["environments"][0]["name"] = "e" * 10
    raw["services"] = [{"name": "s" * 24, "platform": "lambda"}, {"name": "t" * 24, "platform": "ecs"}]
    config = parse_config(raw)
    names = Names(config)
    env = config.environments[0]
    for service in config.services:
        assert len(names.artifact_bucket(service)) <= 63  # S3 bucket names
        for role in (names.pipeline_role(service), names.lambda_deploy_role(service), names.task_role(service, env)):
            assert len(role) <= 64  # IAM role names
        assert len(names.hook_function(service, env, "post-traffic")) <= 64  # Lambda function names
        assert len(names.pipeline_stack(service)) <= 128
        assert len(names.deployment_group(service, env)) <= 100
    for role in (names.deployer_role(env), names.task_execution_role(env), names.instance_role(env)):
        assert len(role) <= 64


def test_the_service_name_platform_is_reserved_for_the_platform_pipeline(raw: dict[str, Any]) -> None:
    raw["services"][0]["name"] = "platform"
    assert only_problem(raw) == (
        "services[0].name: 'platform' is reserved for the platform pipeline's repository, pipeline and projects "
        "(acme-platform); allowed: any other service name"
    )
    raw["platform_pipeline"] = {"enabled": False}
    parse_config(raw)  # without the platform pipeline the name is free


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("concurrency", 0, "platform_pipeline.concurrency: got 0; allowed: at least 1"),
        ("concurrency", 51, "platform_pipeline.concurrency: got 51; allowed: at most 50"),
        ("config_file", "../outside.yaml", 'platform_pipeline.config_file: got "../outside.yaml"; allowed: a path'),
        ("config_file", "/etc/platform.yaml", 'platform_pipeline.config_file: got "/etc/platform.yaml"; allowed: a'),
        ("branch", "refs/heads/main", 'platform_pipeline.branch: got "refs/heads/main"; allowed: the branch name'),
        ("max_removals", -1, "platform_pipeline.max_removals: got -1; allowed: at least 0"),
    ],
)
def test_platform_pipeline_settings_are_bounded(raw: dict[str, Any], field: str, value: Any, expected: str) -> None:
    raw["platform_pipeline"] = {field: value}
    assert only_problem(raw).startswith(expected)
