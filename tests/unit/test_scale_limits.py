"""AWS limits at scale: 200 and 500 services, and 20 target accounts, with 20 % headroom.

Only the stacks whose size grows with services or accounts are built (the shared tooling
stacks, one cross-account stack, the first environment's foundation) plus, as representatives,
one pipeline per platform and one service stack per platform and shared load balancer:
per-service stacks do not grow, so the account-level counts (roles, stacks) and the rules and
target groups per load balancer are those representatives times the number of services.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Environment as CdkEnvironment
from aws_cdk import Stack

from config import parse_config
from config.model import PlatformConfig
from config.names import Names
from stacks.codeartifact_stack import CodeArtifactStack
from stacks.cross_account_stack import CrossAccountRolesStack
from stacks.foundation_stack import FoundationStack
from stacks.notifications_stack import NotificationsStack
from stacks.pipeline_stack import PipelineStack
from stacks.platform_pipeline_stack import PlatformPipelineStack
from stacks.pull_request_stack import PullRequestStack
from stacks.service_stack import ServiceStack
from stacks.tooling_stack import ToolingStack
from tests.platform_synth import new_app
from tools import rollout_time
from tools.quotas import QuotaUsage
from tools.scale_config import SERVICES_PER_LOAD_BALANCER, scaled_config, shared_network
from tools.template_limits import LIMITS, Measures

HEADROOM = 0.8
SERVICES = 200
ACCOUNTS = 20


def synth_selected(config: PlatformConfig, outdir: Path, representatives: bool) -> tuple[Measures, dict[str, Any]]:
    """Synthesize the growing stacks (and one pipeline + service stack per platform); measure them."""
    app = new_app(outdir)
    names = Names(config)
    tooling = CdkEnvironment(account=config.tooling.account, region=config.tooling.region)
    stacks: list[Stack] = [
        ToolingStack(app, names.tooling_stack, config=config, env=tooling),
        CodeArtifactStack(app, names.codeartifact_stack, config=config, env=tooling),
        NotificationsStack(app, names.notifications_stack, config=config, env=tooling),
        PullRequestStack(app, names.pull_request_stack, config=config, env=tooling),
    ]
    env = config.environments[0]
    target = CdkEnvironment(account=env.account, region=config.region_of(env))
    foundation = FoundationStack(app, names.foundation_stack(env), config=config, environment=env, env=target)
    stacks += [
        CrossAccountRolesStack(app, names.cross_account_stack(env), config=config, environment=env, env=target),
        foundation,
    ]
    # The platform pipeline grows with every stack it deploys (its actions) and every account (its policies).
    stacks.append(
        PlatformPipelineStack(
            app, names.platform_pipeline_stack, config=config, stacks=rollout_time.rollout_stacks(config), env=tooling
        )
    )
    picked, pipelines = config.services, config.services
    if representatives:
        kinds = {(s.platform, s.load_balancer if s.shares_load_balancer else "") for s in config.services}
        picked = [next(s for s in config.services if kind(s) == k) for k in sorted(kinds)]
        pipelines = [representative_pipeline(config, p) for p in ("ec2", "ecs", "lambda")]
    per_service: dict[tuple[str, str], str] = {}
    per_pipeline: dict[str, str] = {}
    for service in pipelines:
        pipeline = PipelineStack(app, names.pipeline_stack(service), config=config, service=service, env=tooling)
        stacks.append(pipeline)
        per_pipeline[service.platform] = pipeline.stack_name
    for service in picked:
        deployed = ServiceStack(
            app,
            names.service_stack(service, env),
            config=config,
            service=service,
            environment=env,
            foundation=foundation,
            env=target,
        )
        stacks.append(deployed)
        per_service[kind(service)] = deployed.stack_name
    assembly = app.synth()
    measures = Measures()
    for stack in stacks:
        artifact = assembly.get_stack_by_name(stack.stack_name)
        size = (outdir / artifact.template_file).stat().st_size
        measures.add_template(stack.stack_name, artifact.environment.account, dict(artifact.template), size)
    return measures, {
        "assembly": assembly,
        "per_service": per_service,
        "per_pipeline": per_pipeline,
        "foundation": foundation.stack_name,
    }


def kind(service: Any) -> tuple[str, str]:
    """What a representative stands for: a platform, and the shared load balancer it is routed through."""
    return service.platform, service.load_balancer if service.shares_load_balancer else ""


@pytest.fixture(scope="module")
def at_200_services(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformConfig, Measures, dict[str, Any]]:
    config = parse_config(scaled_config(SERVICES))
    measures, extra = synth_selected(config, tmp_path_factory.mktemp("scale200"), representatives=True)
    return config, measures, extra


def test_no_template_or_policy_reaches_80_percent_of_its_limit_at_200_services(
    at_200_services: tuple[PlatformConfig, Measures, dict[str, Any]],
) -> None:
    _, measures, _ = at_200_services
    assert measures.over(HEADROOM) == []
    # the measures saw the stacks (the largest has resources)
    assert measures.largest["resources_per_stack"].value > 0
    assert measures.largest["wildcard_rules_per_bus"].value <= 6


def test_pull_request_associations_stay_one_resource_per_template(
    at_200_services: tuple[PlatformConfig, Measures, dict[str, Any]],
) -> None:
    config, _, extra = at_200_services
    template = extra["assembly"].get_stack_by_name("acme-pull-requests").template
    associations = [r for r in template["Resources"].values() if r["Type"] == "Custom::ApprovalRuleTemplateAssociation"]
    branches = {s.branch for s in config.services if s.pull_request_validation}
    assert len(associations) == len(branches)
    listed = sorted(name for a in associations for name in a["Properties"]["Repositories"])
    validated = [f"acme-{s.name}" for s in config.services if s.pull_request_validation]
    assert listed == sorted([*validated, "acme-platform"])  # and the platform's own repository
    assert len(template["Resources"]) <= HEADROOM * LIMITS["resources_per_stack"]


def test_account_level_counts_at_200_services_stay_under_80_percent_of_the_quotas(
    at_200_services: tuple[PlatformConfig, Measures, dict[str, Any]],
) -> None:
    config, _, extra = at_200_services
    usage = usage_at(config, extra)
    tooling, target = config.tooling.account, config.environments[0].account
    region = config.tooling.region
    tooling_roles, target_roles = usage.used(tooling, "iam_roles"), usage.used(target, "iam_roles")
    assert tooling_roles <= HEADROOM * LIMITS["iam_roles_per_account"], tooling_roles
    assert target_roles <= HEADROOM * LIMITS["iam_roles_per_account"], target_roles
    # One pipeline stack per service, four shared ones and the platform pipeline's; one service stack per
    # service, the roles and the foundation.
    tooling_stacks, target_stacks = usage.used(tooling, "stacks", region), usage.used(target, "stacks", region)
    assert (tooling_stacks, target_stacks) == (SERVICES + 5, SERVICES + 2)
    assert max(tooling_stacks, target_stacks) <= HEADROOM * LIMITS["stacks_per_account_region"]


@pytest.fixture(scope="module")
def at_20_accounts(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformConfig, Measures]:
    data = scaled_config(3)
    data["environments"] = [
        {
            "name": f"env{index:02d}",
            "account": f"{500000000000 + index:012d}",
            "approval": index == ACCOUNTS - 1,
            "network": shared_network(index),
        }
        for index in range(ACCOUNTS)
    ]
    config = parse_config(data)
    measures, _ = synth_selected(config, tmp_path_factory.mktemp("accounts20"), representatives=False)
    return config, measures


def test_policies_that_grow_with_accounts_stay_under_80_percent_at_20_accounts(
    at_20_accounts: tuple[PlatformConfig, Measures],
) -> None:
    _, measures = at_20_accounts
    assert measures.over(HEADROOM) == []
    # each of these names every target account (or its roles), so 20 accounts make them grow
    for name, per_account in (
        ("kms_key_policy_bytes", 2 * 45),  # deployer and instance role ARNs
        ("s3_bucket_policy_bytes", 2 * 45),
        ("event_bus_policy_chars", 30),  # the account's root ARN
    ):
        assert measures.largest[name].value > ACCOUNTS * per_account, (name, measures.largest[name])


def test_the_measures_flag_a_limit_that_is_crossed() -> None:
    measures = Measures()
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "k" * 300}
    template = {
        "Resources": {
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [statement] * 120}}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
        }
    }
    measures.add_template("probe", "123456789012", template, 10)
    assert [line.split(":")[0] for line in measures.over(HEADROOM)] == ["kms_key_policy_bytes"]


def usage_at(config: PlatformConfig, extra: dict[str, Any]) -> QuotaUsage:
    """The quotas the platform of `config` uses: every shared stack once (the foundation first, so that
    rules on its load balancers count), and each representative once per service it stands for."""
    assembly = extra["assembly"]
    usage = QuotaUsage()

    def add(stack_name: str, times: int = 1) -> None:
        artifact = assembly.get_stack_by_name(stack_name)
        environment = artifact.environment
        usage.add_template(environment.account, environment.region, dict(artifact.template), times, stack_name)

    representatives = {*extra["per_service"].values(), *extra["per_pipeline"].values()}
    add(extra["foundation"])
    for stack in assembly.stacks:
        if stack.stack_name not in representatives and stack.stack_name != extra["foundation"]:
            add(stack.stack_name)
    services = Counter(kind(s) for s in config.services_in(config.environments[0]))
    for key, stack_name in extra["per_service"].items():
        add(stack_name, services[key])
    # A pipeline's push rule sits on its service's trigger bus (a hash of the name): each service's copy
    # of its platform's representative, with the representative's bus renamed to the service's.
    names = Names(config)
    for platform, stack_name in extra["per_pipeline"].items():
        artifact = assembly.get_stack_by_name(stack_name)
        template = json.dumps(dict(artifact.template))
        representative = json.dumps(names.pipeline_trigger_bus(representative_pipeline(config, platform)))
        for service in (s for s in config.services if s.platform == platform):
            own = json.loads(template.replace(representative, json.dumps(names.pipeline_trigger_bus(service))))
            usage.add_template(artifact.environment.account, artifact.environment.region, own, 1, stack_name)
    return usage


def representative_pipeline(config: PlatformConfig, platform: str) -> Any:
    return next(s for s in config.services if s.platform == platform)


@pytest.fixture(scope="module")
def at_500_services(tmp_path_factory: pytest.TempPathFactory) -> tuple[PlatformConfig, Measures, dict[str, Any]]:
    config = parse_config(scaled_config(500))
    measures, extra = synth_selected(config, tmp_path_factory.mktemp("scale500"), representatives=True)
    return config, measures, extra


@pytest.mark.parametrize("services", [200, 500])
def test_no_default_quota_is_exceeded_and_none_is_above_80_percent(
    services: int,
    at_200_services: tuple[PlatformConfig, Measures, dict[str, Any]],
    at_500_services: tuple[PlatformConfig, Measures, dict[str, Any]],
) -> None:
    config, _, extra = at_200_services if services == 200 else at_500_services
    usage = usage_at(config, extra)
    assert usage.over() == []
    assert usage.over(HEADROOM) == []
    # The counts saw the platform: a shared load balancer per 78 services, its rules and target groups.
    target = config.environments[0].account
    balancers = usage.used(target, "application_load_balancers", config.tooling.region)
    assert balancers == -(-services // SERVICES_PER_LOAD_BALANCER)
    per_alb = [(quota.key, value) for account, place, quota, value in usage.rows() if quota.scope == "load_balancer"]
    assert max(v for k, v in per_alb if k == "target_groups_per_alb") == 78
    # One push rule per pipeline on its trigger bus, five buses between them.
    tooling = config.tooling.account
    per_bus = [value for _, _, quota, value in usage.rows() if quota.key == "rules_per_custom_bus"]
    assert (len(per_bus), sum(per_bus)) == (5, services)
    assert usage.used(tooling, "event_buses", config.tooling.region) == 5
    assert usage.used(target, "vpcs", config.tooling.region) == 0  # the generated environments name a VPC
