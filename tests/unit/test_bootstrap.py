"""tools/bootstrap.py: the plan, the STS checks (moto), the scoped policy (moto IAM), the dry run."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from config import load_config
from config.model import PlatformConfig, PlatformPipelineConfig
from config.policies import execution_policy
from tests.config_cases import example_config
from tools import bootstrap as tool

CDK = "cdk"


@pytest.fixture()
def config() -> PlatformConfig:
    return load_config()


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No real credentials or config may leak in; moto answers every call."""
    for key in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with mock_aws():
        yield


class MotoAccounts(tool.AwsAccess):
    """Each profile lands in the account `accounts[profile]` (moto reads MOTO_ACCOUNT_ID per request)."""

    def __init__(self, accounts: dict[str | None, str]) -> None:
        self.accounts = accounts
        self.clients: list[tuple[str | None, str]] = []

    def client(self, account: tool.Account, service: str) -> Any:
        os.environ["MOTO_ACCOUNT_ID"] = self.accounts[account.profile]
        self.clients.append((account.profile, service))
        return boto3.client(service, region_name=account.region)


RIGHT = {"acme-tooling": "111111111111", "acme-dev": "222222222222", "acme-prod": "333333333333"}


class Recorder:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> None:
        self.commands.append(list(command))


def without_pipeline(config: PlatformConfig) -> PlatformConfig:
    """The config with `platform_pipeline: {enabled: false}`: every stack is deployed by hand."""
    return config.model_copy(update={"platform_pipeline": PlatformPipelineConfig(enabled=False)})


def test_with_the_platform_pipeline_only_what_must_happen_once_by_hand(config: PlatformConfig) -> None:
    quotas, *steps = tool.plan(config, cdk=CDK)
    assert quotas.description.startswith("Quota preflight")
    rendered = [s.render() for s in steps]
    assert [s.policy_name for s in steps if s.policy_name] == ["acme-cdk-cfn-execution"] * 3
    assert [r.split()[1:3] for r in rendered if r.startswith("cdk ")] == [
        ["bootstrap", "aws://222222222222/eu-west-1"],
        ["bootstrap", "aws://333333333333/eu-west-1"],
        ["bootstrap", "aws://111111111111/eu-west-1"],
        ["deploy", "acme-platform-pipeline"],  # the one stack deployed by hand
    ]
    assert (
        rendered[-2]
        == "cdk deploy acme-platform-pipeline --exclusively --require-approval never --profile acme-tooling"
    )
    push = steps[-1]
    assert push.manual.startswith(
        "git remote add platform codecommit::eu-west-1://acme-tooling@acme-platform && git push platform HEAD:main"
    )
    assert len(steps) == 8
    lines: list[str] = []
    tool.bootstrap(config, execute=False, verify=False, aws=PolicyRecorder(), out=lines.append, cdk=CDK)
    assert lines[1].startswith("Only what must happen once by hand: the execution policies, `cdk bootstrap` of each")
    assert "The platform pipeline deploys everything else" in lines[1]


def test_plan_without_the_platform_pipeline_deploys_every_stack(config: PlatformConfig) -> None:
    config = without_pipeline(config)
    quotas, *steps = tool.plan(config, cdk=CDK)
    # First the quota preflight of the synthesized cdk.out (tests/unit/test_quota_preflight.py).
    assert quotas.description.startswith("Quota preflight: request every quota increase")
    assert quotas.command == (sys.executable, "-m", "tools.bootstrap", "--quotas", "--execute")
    assert tool.plan(config, cdk=CDK, config_path="my.yaml")[0].command[-2:] == ("-c", "my.yaml")
    rendered = [s.render() for s in steps]
    assert rendered[1] == (
        "cdk bootstrap aws://222222222222/eu-west-1 --trust 111111111111 --trust-for-lookup 111111111111 "
        "--cloudformation-execution-policies arn:aws:iam::222222222222:policy/acme-cdk-cfn-execution "
        "--profile acme-dev"
    )
    assert rendered[2] == (
        "cdk deploy acme-cross-account-dev --exclusively --require-approval never --profile acme-dev"
    )
    assert rendered[4].startswith("cdk bootstrap aws://333333333333/eu-west-1 --trust 111111111111")
    assert rendered[5] == (
        "cdk deploy acme-cross-account-prod --exclusively --require-approval never --profile acme-prod"
    )
    assert rendered[7] == (
        "cdk bootstrap aws://111111111111/eu-west-1 --cloudformation-execution-policies "
        "arn:aws:iam::111111111111:policy/acme-cdk-cfn-execution --profile acme-tooling"
    )
    assert rendered[8] == (
        "cdk deploy acme-tooling acme-codeartifact acme-notifications --exclusively --require-approval never "
        "--profile acme-tooling"
    )
    assert rendered[9] == (
        "cdk deploy acme-foundation-dev acme-foundation-prod --exclusively --require-approval never "
        "--profile acme-tooling"
    )
    assert rendered[10] == (
        "cdk deploy acme-service-storefront-dev acme-service-orders-dev acme-service-pricing-dev "
        "acme-service-storefront-prod acme-service-orders-prod acme-service-pricing-prod "
        "--exclusively --require-approval never --profile acme-tooling"
    )
    assert rendered[11] == (
        "cdk deploy acme-pipeline-storefront acme-pipeline-orders acme-pipeline-pricing "
        "--exclusively --require-approval never --profile acme-tooling"
    )
    assert rendered[12] == (
        "cdk deploy acme-pull-requests --exclusively --require-approval never --profile acme-tooling"
    )
    assert [s.policy_name for s in steps if not s.command] == ["acme-cdk-cfn-execution"] * 3
    assert steps[0].policy_document == execution_policy(config, config.environments[0].account)
    assert steps[6].policy_document == execution_policy(config, config.tooling.account)
    assert len(steps) == 13


def test_targets_sharing_an_account_are_bootstrapped_once(config: PlatformConfig) -> None:
    data = without_pipeline(config).model_dump(by_alias=True)
    data["environments"].insert(1, {**data["environments"][0], "name": "qa"})
    shared = PlatformConfig.model_validate(data)
    steps = tool.plan(shared, cdk=CDK)
    bootstraps = [s.render() for s in steps if s.command[1:2] == ("bootstrap",)]
    assert len(bootstraps) == 3
    assert "cdk deploy acme-cross-account-dev acme-cross-account-qa --exclusively" in [
        s.render()[: len("cdk deploy acme-cross-account-dev acme-cross-account-qa --exclusively")] for s in steps
    ]


def test_offline_dry_run_prints_every_command_and_calls_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main(["--offline", "--cdk", CDK]) == 0
    out = capsys.readouterr().out
    assert "Dry run (add --execute to run): 9 steps" in out
    assert "[1/9] Quota preflight: request every quota increase" in out
    for step in tool.plan(load_config(), cdk=CDK):
        assert step.render() in out


# --------------------------------------------------------------------------------------
# Amazon Q Developer channels: the one-time Teams authorization is listed, never run
# --------------------------------------------------------------------------------------

TEAM = "19b2c3d4-0000-4000-8000-00000000abcd"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def with_amazon_q(*channels: tuple[str, str]) -> PlatformConfig:
    """The example config plus amazon_q channels (name, team id), each routed pipeline_failed."""
    data = example_config()
    for index, (name, team) in enumerate(channels):
        data["notifications"]["channels"].append(
            {
                "name": name,
                "delivery": "amazon_q",
                "amazon_q": {"team_id": team, "channel_id": f"19:chan{index}@thread.tacv2", "tenant_id": TENANT},
            }
        )
    data["notifications"]["routes"].append({"events": ["pipeline_failed"], "channels": [n for n, _ in channels]})
    return PlatformConfig.model_validate(data)


def test_the_only_manual_step_of_the_default_config_is_the_first_push(config: PlatformConfig) -> None:
    assert [step.description.split(" ")[0] for step in tool.plan(config, cdk=CDK) if step.manual] == ["Push"]
    assert not any(step.manual for step in tool.plan(without_pipeline(config), cdk=CDK))


def test_an_amazon_q_channel_lists_the_teams_authorization_before_the_notifications_stack() -> None:
    other_team = "29b2c3d4-0000-4000-8000-00000000abcd"
    config = without_pipeline(with_amazon_q(("ops", TEAM), ("oncall", TEAM), ("security", other_team)))
    steps = tool.plan(config, cdk=CDK)
    manual = [s for s in steps if s.manual]
    # One step per team: ops and oncall share a team, security has its own.
    assert len(manual) == 2 and len(steps) == 14 + 2
    first, second = manual
    assert first.description == (
        f"One-time manual step before the notifications stack: authorize the Microsoft Teams team {TEAM} "
        f"(tenant {TENANT}) for Amazon Q Developer in chat applications (amazon_q channel(s) ops, oncall)"
    )
    assert other_team in second.description and "(amazon_q channel(s) security)" in second.description
    rendered = first.render()
    assert rendered.startswith("(manual) in the Amazon Q Developer in chat applications console of the tooling")
    assert "account 111111111111" in rendered and f"administrator of team {TEAM}" in rendered
    assert "acme-ops, acme-oncall (AWS::Chatbot::MicrosoftTeamsChannelConfiguration)" in rendered
    assert first.account == tool.tooling_account(config) and not first.command and not first.policy_name
    # Right before the stacks that include acme-notifications.
    deploy = next(i for i, s in enumerate(steps) if "acme-notifications" in s.command)
    assert steps.index(second) == deploy - 1 and steps.index(first) == deploy - 2


class PolicyRecorder(tool.AwsAccess):
    def __init__(self) -> None:
        self.policies: list[str] = []

    def put_policy(self, step: tool.Step) -> str:
        self.policies.append(step.policy_name)
        return f"arn:aws:iam::{step.account.account}:policy/{step.policy_name}"


def test_the_dry_run_prints_the_manual_step_and_execute_runs_nothing_for_it(tmp_path: Path) -> None:
    config = with_amazon_q(("ops", TEAM))
    lines: list[str] = []
    steps = tool.bootstrap(config, execute=False, verify=False, aws=PolicyRecorder(), out=lines.append, cdk=CDK)
    out = "\n".join(lines)
    number = next(i for i, s in enumerate(steps, start=1) if s.manual)
    assert f"[{number}/{len(steps)}] One-time manual step before the notifications stack" in out
    assert "(manual) in the Amazon Q Developer in chat applications console" in out
    aws, runner, lines = PolicyRecorder(), Recorder(), []
    tool.bootstrap(config, execute=True, verify=False, aws=aws, runner=runner, out=lines.append, cdk=CDK)
    assert len(runner.commands) == len([s for s in steps if s.command])  # nothing is run for the manual step
    assert aws.policies == ["acme-cdk-cfn-execution"] * 3
    assert "  -> not done or checked by this tool: if it has not been done, the next deploy stops on it" in lines
    assert [p.name for p in tool.write_policies(steps, tmp_path, out=lambda _: None)] == [
        "222222222222.json",
        "333333333333.json",
        "111111111111.json",
    ]


@pytest.mark.usefixtures("aws_env")
def test_dry_run_verifies_each_profile_with_sts_and_runs_nothing(config: PlatformConfig) -> None:
    aws = MotoAccounts(RIGHT)
    runner = Recorder()
    lines: list[str] = []
    tool.bootstrap(config, execute=False, verify=True, aws=aws, runner=runner, out=lines.append, cdk=CDK)
    assert lines[:3] == [
        "verified: dev account 222222222222 (eu-west-1, profile acme-dev)",
        "verified: prod account 333333333333 (eu-west-1, profile acme-prod)",
        "verified: tooling account 111111111111 (eu-west-1, profile acme-tooling)",
    ]
    assert runner.commands == []
    assert {service for _, service in aws.clients} == {"sts"}


@pytest.mark.usefixtures("aws_env")
def test_a_profile_of_the_wrong_account_is_refused_before_anything_runs(config: PlatformConfig) -> None:
    aws = MotoAccounts({**RIGHT, "acme-prod": "999999999999"})
    runner = Recorder()
    with pytest.raises(tool.BootstrapError) as caught:
        tool.bootstrap(config, execute=True, verify=True, aws=aws, runner=runner, out=lambda _: None, cdk=CDK)
    message = str(caught.value)
    assert message.startswith("profile acme-prod is account 999999999999 (arn:aws:sts::999999999999:")
    assert message.endswith("but the config expects prod account 333333333333: refusing to touch it")
    assert runner.commands == []
    assert ("acme-prod", "iam") not in aws.clients and ("acme-dev", "iam") not in aws.clients


def test_with_the_pipeline_the_amazon_q_step_comes_before_the_pipeline_deploys_notifications() -> None:
    steps = tool.plan(with_amazon_q(("ops", TEAM)), cdk=CDK)
    deploy = next(i for i, s in enumerate(steps) if "acme-platform-pipeline" in s.command)
    assert steps[deploy - 1].description.startswith("One-time manual step before the notifications stack")


@pytest.mark.usefixtures("aws_env")
def test_execute_with_the_pipeline_bootstraps_then_deploys_only_the_pipeline(config: PlatformConfig) -> None:
    aws = MotoAccounts(RIGHT)
    runner = Recorder()
    tool.bootstrap(config, execute=True, verify=True, aws=aws, runner=runner, out=lambda _: None, cdk=CDK)
    assert [c[:3] for c in runner.commands] == [
        [sys.executable, "-m", "tools.bootstrap"],
        [CDK, "bootstrap", "aws://222222222222/eu-west-1"],
        [CDK, "bootstrap", "aws://333333333333/eu-west-1"],
        [CDK, "bootstrap", "aws://111111111111/eu-west-1"],
        [CDK, "deploy", "acme-platform-pipeline"],
    ]


@pytest.mark.usefixtures("aws_env")
def test_execute_puts_the_scoped_policy_then_runs_commands_in_order(config: PlatformConfig) -> None:
    config = without_pipeline(config)
    aws = MotoAccounts(RIGHT)
    runner = Recorder()
    tool.bootstrap(config, execute=True, verify=True, aws=aws, runner=runner, out=lambda _: None, cdk=CDK)
    assert [c[:3] for c in runner.commands] == [
        [sys.executable, "-m", "tools.bootstrap"],  # the quota preflight, --quotas --execute
        [CDK, "bootstrap", "aws://222222222222/eu-west-1"],
        [CDK, "deploy", "acme-cross-account-dev"],
        [CDK, "bootstrap", "aws://333333333333/eu-west-1"],
        [CDK, "deploy", "acme-cross-account-prod"],
        [CDK, "bootstrap", "aws://111111111111/eu-west-1"],
        [CDK, "deploy", "acme-tooling"],
        [CDK, "deploy", "acme-foundation-dev"],
        [CDK, "deploy", "acme-service-storefront-dev"],
        [CDK, "deploy", "acme-pipeline-storefront"],
        [CDK, "deploy", "acme-pull-requests"],
    ]
    os.environ["MOTO_ACCOUNT_ID"] = "222222222222"
    iam = boto3.client("iam", region_name="eu-west-1")
    arn = "arn:aws:iam::222222222222:policy/acme-cdk-cfn-execution"
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    stored = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored == execution_policy(config, config.environments[0].account)


@pytest.mark.usefixtures("aws_env")
def test_rerun_updates_the_policy_as_a_new_default_version(config: PlatformConfig) -> None:
    aws = MotoAccounts(RIGHT)
    for _ in range(6):  # more than IAM's five versions: the oldest is pruned
        tool.bootstrap(config, execute=True, verify=False, aws=aws, runner=Recorder(), out=lambda _: None, cdk=CDK)
    os.environ["MOTO_ACCOUNT_ID"] = "111111111111"
    iam = boto3.client("iam", region_name="eu-west-1")
    versions = iam.list_policy_versions(PolicyArn="arn:aws:iam::111111111111:policy/acme-cdk-cfn-execution")
    assert len(versions["Versions"]) == 5
    assert sum(v["IsDefaultVersion"] for v in versions["Versions"]) == 1


def test_missing_profile_stops_with_a_clear_message(
    config: PlatformConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "config").write_text("[profile acme-tooling]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    with pytest.raises(tool.BootstrapError) as caught:
        tool.bootstrap(config, execute=False, verify=True, aws=tool.AwsAccess(), out=lambda _: None, cdk=CDK)
    assert str(caught.value) == (
        "profile 'acme-dev' for the dev account 222222222222 (eu-west-1, profile acme-dev) is not configured "
        "(aws configure --profile acme-dev, or fix `profile` in the config)"
    )


def test_missing_credentials_stop_with_a_clear_message(
    config: PlatformConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "config").write_text("".join(f"[profile {p}]\nregion = eu-west-1\n" for p in RIGHT))
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for key in (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(tool.BootstrapError) as caught:
        tool.bootstrap(config, execute=False, verify=True, aws=tool.AwsAccess(), out=lambda _: None, cdk=CDK)
    assert str(caught.value) == (
        "no AWS credentials for the dev account 222222222222 (eu-west-1, profile acme-dev): "
        "log in (aws sso login --profile acme-dev) or set credentials"
    )


def test_main_reports_a_refusal_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], aws_env: None
) -> None:
    monkeypatch.setattr(tool, "AwsAccess", lambda: MotoAccounts({**RIGHT, "acme-dev": "444444444444"}))
    assert tool.main(["--cdk", CDK]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bootstrap stopped: profile acme-dev is account 444444444444")


def test_main_reports_a_bad_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main(["--offline", "-c", str(tmp_path / "missing.yaml")]) == 1
    assert "config file not found" in capsys.readouterr().err
