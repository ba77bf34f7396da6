"""The platform pipeline (issue 20): its source, build, self-update, assets, waves, reviews, prune and roles,
read from the synthesized template and held against the cloud assembly's own manifest."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Environment as CdkEnvironment

from cdk_constructs.platform_pipeline import MAX_DEPLOY_ACTIONS, PUBLISH_ASSETS
from cdk_constructs.platform_waves import MAX_ACTIONS_PER_STAGE
from config import parse_config
from config.names import Names
from stacks.platform_pipeline_stack import PlatformPipelineStack
from tests.platform_synth import REPO_ROOT, SynthesizedPlatform, new_app
from tests.unit.test_platform_waves import manifest_dependencies
from tools import rollout_time
from tools.platform_rollout import read_assembly, stacks_of
from tools.scale_config import scaled_config
from tools.template_limits import size

NAMED_IAM = "CAPABILITY_NAMED_IAM"


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def pipeline_of(template: dict[str, Any]) -> dict[str, Any]:
    (pipeline,) = resources(template, "AWS::CodePipeline::Pipeline").values()
    return dict(pipeline["Properties"])


def deployed(stage: dict[str, Any]) -> list[tuple[int, str]]:
    """(run order, stack) for every stack a stage deploys, CloudFormation or grouped CDK actions."""
    found = []
    for action in stage["Actions"]:
        if action["ActionTypeId"]["Provider"] == "CloudFormation":
            found.append((action["RunOrder"], action["Configuration"]["StackName"]))
        elif "Review" not in stage["Name"] and stage["Name"].startswith("Wave-"):
            variables = {v["name"]: v["value"] for v in json.loads(action["Configuration"]["EnvironmentVariables"])}
            found += [(action["RunOrder"], name) for name in variables["STACKS"].split()]
    return found


def project_spec(template: dict[str, Any], project_name: str) -> dict[str, Any]:
    for project in resources(template, "AWS::CodeBuild::Project").values():
        if project["Properties"]["Name"] == project_name:
            return dict(json.loads(project["Properties"]["Source"]["BuildSpec"]))
    raise AssertionError(f"no project {project_name}")


@pytest.fixture(scope="module")
def platform(default_platform: SynthesizedPlatform) -> SynthesizedPlatform:
    return default_platform


@pytest.fixture(scope="module")
def template(platform: SynthesizedPlatform) -> dict[str, Any]:
    return platform.template_json(Names(platform.config).platform_pipeline_stack)


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_the_waves_deploy_every_other_stack_once_after_what_it_needs(
    which: str, request: pytest.FixtureRequest
) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(which)
    names = Names(platform.config)
    stages = pipeline_of(platform.template_json(names.platform_pipeline_stack))["Stages"]
    dependencies = manifest_dependencies(platform)
    position: dict[str, tuple[int, int]] = {}
    for index, stage in enumerate(stages):
        for run_order, stack in deployed(stage):
            assert stack not in position, f"{stack} deployed twice"
            position[stack] = (index, run_order)
    assert set(position) == set(dependencies)  # every stack of the assembly, its own included
    assert position[names.platform_pipeline_stack][0] == [s["Name"] for s in stages].index("SelfUpdate")
    for stack, needs in dependencies.items():
        for need in needs:
            assert position[need] < position[stack], f"{stack} is deployed before {need}"
    assert all(len(s["Actions"]) <= MAX_ACTIONS_PER_STAGE for s in stages)


def test_stage_order_and_reviews_before_every_wave_that_touches_production(template: dict[str, Any]) -> None:
    stages = [s["Name"] for s in pipeline_of(template)["Stages"]]
    assert stages == [
        "Source",
        "Build",
        "SelfUpdate",
        "Assets",
        "Review-cross-account",  # the cross-account wave holds prod's roles stack
        "Wave-cross-account",
        "Wave-tooling",
        "Wave-env-dev",  # dev has approval: false, so no review
        "Review-env-prod",
        "Wave-env-prod",
        "Wave-pipelines",
        "Wave-pull-requests",
        "Prune",
    ]


def test_each_cloudformation_action_runs_as_the_bootstrap_roles_the_assembly_names(
    platform: SynthesizedPlatform, template: dict[str, Any]
) -> None:
    assembly = read_assembly(platform.outdir)
    actions = [a for s in pipeline_of(template)["Stages"] for a in s["Actions"]]
    deploys = [a for a in actions if a["ActionTypeId"]["Provider"] == "CloudFormation"]
    assert len(deploys) == len(assembly)
    for action in deploys:
        config = action["Configuration"]
        stack = assembly[config["StackName"]]
        assert action["RoleArn"] == stack.deploy_role  # cdk-hnb659fds-deploy-role-<account>-<region>
        assert config["RoleArn"] == stack.execution_role  # the scoped cfn-exec role
        assert config["TemplatePath"] == f"Assembly::{stack.template_file}"  # the artifact built once
        assert config["ActionMode"] == "CREATE_UPDATE"
        assert NAMED_IAM in config["Capabilities"].split(",")
        assert action["InputArtifacts"] == [{"Name": "Assembly"}]


def test_source_is_the_platform_repository_and_a_push_starts_the_pipeline(template: dict[str, Any]) -> None:
    pipeline = pipeline_of(template)
    assert pipeline["PipelineType"] == "V2"
    assert pipeline["ExecutionMode"] == "SUPERSEDED"
    assert pipeline["RestartExecutionOnUpdate"] is True  # self-update reruns on the new definition
    (repository,) = resources(template, "AWS::CodeCommit::Repository").values()
    assert repository["Properties"]["RepositoryName"] == "acme-platform"
    assert "Code" not in repository["Properties"]  # seeded with nothing: the team pushes the platform
    assert repository["DeletionPolicy"] == "RetainExceptOnCreate"
    source = pipeline["Stages"][0]["Actions"][0]
    assert source["Configuration"]["BranchName"] == "main"
    assert source["Configuration"]["PollForSourceChanges"] is False
    (rule,) = resources(template, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"]["referenceName"] == ["main"]
    assert pattern["detail-type"] == ["CodeCommit Repository State Change"]
    (target,) = rule["Properties"]["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0 and "DeadLetterConfig" in target


def test_the_build_runs_every_gate_and_synthesizes_once(template: dict[str, Any]) -> None:
    spec = project_spec(template, "acme-platform-build")
    commands = spec["phases"]["build"]["commands"]
    assert commands[0] == "make test"
    assert commands[1] == "make synth CONFIG=config/platform.yaml"
    assert "tools.preflight" in commands[2]
    assert spec["artifacts"]["base-directory"] == "cdk.out"
    install = spec["phases"]["install"]["commands"]
    assert any("codeartifact login" in c and "--tool pip" in c for c in install)
    # Public registries only while the domain does not exist (the first rollout builds before the tooling wave).
    assert all("grep -q ResourceNotFoundException" in c for c in install)
    build_stage = pipeline_of(template)["Stages"][1]
    assert build_stage["Actions"][0]["OutputArtifacts"] == [{"Name": "Assembly"}]
    # Nothing after the build synthesizes again: every later project reads the Assembly artifact.
    for name in ("acme-platform-assets", "acme-platform-review", "acme-platform-prune"):
        text = json.dumps(project_spec(template, name))
        assert "synth" not in text and "CODEBUILD_SRC_DIR_Assembly" in text


def test_assets_are_published_once_per_account_before_any_wave(
    platform: SynthesizedPlatform, template: dict[str, Any]
) -> None:
    stages = pipeline_of(template)["Stages"]
    assets = next(s for s in stages if s["Name"] == "Assets")
    accounts = [
        {v["name"]: v["value"] for v in json.loads(a["Configuration"]["EnvironmentVariables"])}["ACCOUNT"]
        for a in assets["Actions"]
    ]
    assert sorted(accounts) == sorted({s.account for s in read_assembly(platform.outdir).values()})
    assert all(a["RunOrder"] == 1 for a in assets["Actions"])  # in parallel
    names = [s["Name"] for s in stages]
    assert names.index("Assets") < min(i for i, n in enumerate(names) if n.startswith(("Wave-", "Review-")))


def test_the_pinned_cli_accepts_the_asset_command(platform: SynthesizedPlatform) -> None:
    """The buildspec's `cdk publish-assets` line, run offline against the synthesized assembly: the pinned
    CLI must parse it and reach the point where it needs credentials (an unknown flag or a missing
    --unstable opt-in would stop it earlier)."""
    stacks = stacks_of(read_assembly(platform.outdir), account="333333333333", wave=None)
    command = PUBLISH_ASSETS.split("$(")[0].replace('"$CODEBUILD_SRC_DIR_Assembly"', str(platform.outdir))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
    result = subprocess.run(
        [*command.split(), *stacks], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no credentials have been configured" in output, output
    assert "Publishing assets" in output


def test_review_reports_exactly_its_wave_and_the_approval_links_to_it(
    platform: SynthesizedPlatform, template: dict[str, Any]
) -> None:
    stages = pipeline_of(template)["Stages"]
    assembly = read_assembly(platform.outdir)
    topics = list(resources(template, "AWS::SNS::Topic"))
    for index, stage in enumerate(stages):
        if not stage["Name"].startswith("Review-"):
            continue
        wave = stage["Name"].removeprefix("Review-")
        report, approve = stage["Actions"]
        variables = {v["name"]: v["value"] for v in json.loads(report["Configuration"]["EnvironmentVariables"])}
        assert variables["WAVE"] == wave
        assert variables["EXECUTION_ID"] == "#{codepipeline.PipelineExecutionId}"
        namespace = report["Namespace"]
        assert (report["RunOrder"], approve["RunOrder"]) == (1, 2)
        assert approve["ActionTypeId"]["Provider"] == "Manual"
        assert approve["Configuration"]["ExternalEntityLink"] == f"#{{{namespace}.REPORT_URL}}"
        assert f"#{{{namespace}.SUMMARY}}" in approve["Configuration"]["CustomData"]
        assert approve["Configuration"]["NotificationArn"] == {"Ref": topics[0]}
        # What the tool will report (the assembly's wave metadata) is what the next stage deploys.
        following = [s for s in stages[index + 1 :] if s["Name"].startswith(f"Wave-{wave}")]
        assert sorted(n for s in following for _, n in deployed(s)) == stacks_of(assembly, account=None, wave=wave)
        accounts = variables["ACCOUNTS"].split(",")
        assert sorted(accounts) == sorted({assembly[n].account for n in stacks_of(assembly, account=None, wave=wave)})
    review_spec = project_spec(template, "acme-platform-review")
    assert review_spec["env"]["exported-variables"] == ["REPORT_URL", "SUMMARY"]


def policy_statements(template: dict[str, Any], role_name: str) -> list[dict[str, Any]]:
    roles = {
        k for k, v in resources(template, "AWS::IAM::Role").items() if v["Properties"].get("RoleName") == role_name
    }
    statements = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if any(r.get("Ref") in roles for r in policy["Properties"]["Roles"]):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def assumed(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for s in statements:
        if s["Action"] == "sts:AssumeRole":
            found |= set(s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    return found


def test_roles_reach_accounts_only_through_bootstrap_roles(template: dict[str, Any]) -> None:
    accounts = ("111111111111", "222222222222", "333333333333")

    def roles(kind: str) -> set[str]:
        return {f"arn:aws:iam::{a}:role/cdk-hnb659fds-{kind}-role-{a}-eu-west-1" for a in accounts}

    assert assumed(policy_statements(template, "acme-platform-pipeline")) == roles("deploy")
    assert assumed(policy_statements(template, "acme-platform-deploy")) == roles("file-publishing")
    assert assumed(policy_statements(template, "acme-platform-rollout")) == roles("deploy")
    assert assumed(policy_statements(template, "acme-platform-build")) == set()  # make test needs no AWS
    assert assumed(policy_statements(template, "acme-platform-pr")) == set()  # nor do pull requests
    for role in ("pipeline", "deploy", "rollout", "build", "pr"):
        for statement in policy_statements(template, f"acme-platform-{role}"):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), (role, statement)
    # No access key, user or secret anywhere: every step runs as a role.
    assert not resources(template, "AWS::IAM::AccessKey") and not resources(template, "AWS::IAM::User")
    # The target accounts' deploy roles read the templates: named in the bucket and key policies.
    text = json.dumps(resources(template, "AWS::S3::BucketPolicy")) + json.dumps(resources(template, "AWS::KMS::Key"))
    for account in accounts[1:]:
        assert f"arn:aws:iam::{account}:role/cdk-hnb659fds-deploy-role-{account}-eu-west-1" in text


def test_approvers_may_approve_only_the_reviews(template: dict[str, Any]) -> None:
    (policy,) = resources(template, "AWS::IAM::ManagedPolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    approve = json.dumps(statements["ApproveReviews"]["Resource"])
    assert re.findall(r"/([\w-]+)/Approve", approve) == ["Review-cross-account", "Review-env-prod"]


def test_prune_runs_last_over_every_account(template: dict[str, Any]) -> None:
    stages = pipeline_of(template)["Stages"]
    assert stages[-1]["Name"] == "Prune"
    variables = {
        v["name"]: v["value"] for v in json.loads(stages[-1]["Actions"][0]["Configuration"]["EnvironmentVariables"])
    }
    assert variables["ACCOUNTS"].split(",") == ["111111111111", "222222222222", "333333333333"]
    command = " ".join(project_spec(template, "acme-platform-prune")["phases"]["build"]["commands"])
    assert "--max-removals 10 --execute" in command


def synthetic_platform_pipeline(services: int, outdir: Path) -> dict[str, Any]:
    """The platform pipeline stack alone for a generated config: it needs only the other stacks' names,
    places and dependencies (tools/rollout_time.py, held equal to a real synth's graph)."""
    config = parse_config(scaled_config(services))
    names, tooling = Names(config), config.tooling
    rollout = rollout_time.rollout_stacks(config)
    app = new_app(outdir)
    PlatformPipelineStack(
        app,
        names.platform_pipeline_stack,
        config=config,
        stacks=rollout,
        env=CdkEnvironment(account=tooling.account, region=tooling.region),
    )
    app.synth()
    template = json.loads((outdir / f"{names.platform_pipeline_stack}.template.json").read_text())
    return {"template": template, "stacks": {s.node.name: s for s in rollout}}


@pytest.mark.parametrize("services", [200, 500])
def test_at_scale_stacks_are_grouped_and_the_pipeline_fits_aws_limits(services: int, tmp_path: Path) -> None:
    built = synthetic_platform_pipeline(services, tmp_path)
    template, stacks = built["template"], built["stacks"]
    pipeline = pipeline_of(template)
    stages = pipeline["Stages"]
    # CodePipeline: 50 stages of 50 actions; the template within 80 % of CloudFormation's 1 MB, and
    # within 80 % of the ~512 KB a CloudFormation action was reported to accept
    # (aws-cloudformation/cloudformation-coverage-roadmap#1023).
    assert len(stages) <= 0.8 * 50
    assert all(len(s["Actions"]) <= MAX_ACTIONS_PER_STAGE for s in stages)
    assert size(template) <= 0.8 * 512 * 1024
    deploy_actions = [a for s in stages if s["Name"].startswith("Wave-") for a in s["Actions"]]
    assert len(deploy_actions) <= MAX_DEPLOY_ACTIONS
    seen = [name for s in stages for _, name in deployed(s)]
    # Every stack once (grouped actions included), and the pipeline's own in SelfUpdate.
    assert sorted(seen) == sorted([*stacks, "acme-platform-pipeline"])
    grouped = [a for a in deploy_actions if a["ActionTypeId"]["Provider"] == "CodeBuild"]
    assert grouped, "at this scale stacks are grouped into CDK CLI deploys"
    for action in grouped:
        for value in action["Configuration"].values():
            assert len(value if isinstance(value, str) else json.dumps(value)) <= 1000  # a configuration value
    spec = project_spec(template, "acme-platform-deploy")
    assert "cdk deploy" in spec["phases"]["build"]["commands"][0]
    # The grouped deploys run as the deploy role, which then also assumes the accounts' deploy roles.
    assert any("deploy-role" in r for r in assumed(policy_statements(template, "acme-platform-deploy")))


def test_platform_pull_requests_go_through_the_platform_validator(platform: SynthesizedPlatform) -> None:
    """The validator's one rule and its StartBuild grant cover the platform repository and its project, so a
    pull request there starts acme-platform-pr, which runs make test and posts the change report."""
    from fnmatch import fnmatch

    prs = platform.template_json("acme-pull-requests")
    rules = [r["Properties"]["EventPattern"] for r in resources(prs, "AWS::Events::Rule").values()]
    prefixes = [
        r["prefix"]
        for p in rules
        if p.get("detail-type") == ["CodeCommit Pull Request State Change"]
        for r in p["resources"]
    ]
    assert any("arn:aws:codecommit:eu-west-1:111111111111:acme-platform".startswith(p) for p in prefixes)
    starts = [
        s["Resource"]
        for policy in resources(prs, "AWS::IAM::Policy").values()
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "codebuild:StartBuild"
    ]
    assert any(fnmatch("arn:aws:codebuild:eu-west-1:111111111111:project/acme-platform-pr", p) for p in starts)
    template = platform.template_json("acme-platform-pipeline")
    spec = project_spec(template, "acme-platform-pr")
    commands = " ".join(spec["phases"]["build"]["commands"])
    assert spec["phases"]["build"]["commands"][0] == "make test"
    assert "tools.platform_rollout pr-report" in commands and "--post" in commands
    (source,) = [
        p["Properties"]["Source"]
        for p in resources(template, "AWS::CodeBuild::Project").values()
        if p["Properties"]["Name"] == "acme-platform-pr"
    ]
    assert source["Type"] == "CODECOMMIT"  # the validator sets the source version to the pull request's commit
