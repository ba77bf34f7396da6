"""tools/quotas.py: the AWS default quotas the platform consumes, counted from its templates."""

from __future__ import annotations

import re

import pytest

from tests.platform_synth import SynthesizedPlatform
from tools.quotas import BY_KEY, NOT_COUNTED, QUOTAS, QuotaUsage, counted_by, usage_of_assembly

TOOLING, DEV, PROD = "111111111111", "222222222222", "333333333333"
REGION = "eu-west-1"


def test_every_quota_names_its_aws_source() -> None:
    for quota in QUOTAS:
        assert quota.source.startswith("https://docs.aws.amazon.com/"), quota.key
        assert quota.code is None or re.fullmatch(r"L-[0-9A-F]{8}", quota.code), quota.key
        assert quota.default > 0


def test_default_platform_usage(default_platform: SynthesizedPlatform) -> None:
    usage = usage_of_assembly(default_platform.outdir)
    # Tooling: 3 pipelines (one per service), their build, test and pull-request projects; the platform
    # pipeline and its build, assets, review, prune and pull-request projects.
    assert usage.used(TOOLING, "pipelines", REGION) == 3 + 1
    assert usage.used(TOOLING, "build_projects", REGION) == 9 + 5
    assert usage.used(TOOLING, "stacks", REGION) == 8
    # The notifier's rules per event kind, one forwarding pushes to the trigger buses, one for pull requests,
    # the pipeline watcher's schedule, the platform pipeline's push rule.
    assert usage.used(TOOLING, "rules_per_default_bus", REGION) == 22
    for account in (DEV, PROD):
        # One foundation per environment: one VPC with one NAT gateway, one shared load balancer.
        assert usage.used(account, "vpcs", REGION) == 1
        assert usage.used(account, "elastic_ips", REGION) == 1
        assert usage.used(account, "application_load_balancers", REGION) == 1
        # ECS blue/green: two target groups; EC2 in place: one.
        assert usage.used(account, "target_groups", REGION) == 3
        assert usage.used(account, "codedeploy_applications", REGION) == 3
        assert usage.used(account, "stacks", REGION) == 5
    per_balancer = {
        (place.rsplit("/", 2)[1], quota.key): value
        for account, place, quota, value in usage.rows()
        if quota.scope == "load_balancer" and account == DEV
    }
    # The foundation's production and test listeners; the rules and target groups the service stacks put
    # on them: ECS a production and a test rule, blue and green; EC2 one rule and one target group.
    assert per_balancer == {
        ("acme-foundation-dev", "listeners_per_alb"): 2,
        ("acme-foundation-dev", "rules_per_alb"): 3,
        ("acme-foundation-dev", "target_groups_per_alb"): 3,
    }
    assert usage.over(0.8) == []


def test_a_shared_load_balancer_counts_every_service_on_it_once() -> None:
    resources: dict[str, dict[str, object]] = {
        "Alb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {}},
        "Http": {
            "Type": "AWS::ElasticLoadBalancingV2::Listener",
            "Properties": {"LoadBalancerArn": {"Ref": "Alb"}, "DefaultActions": [{"Type": "fixed-response"}]},
        },
    }
    for n in range(60):
        resources[f"Blue{n}"] = {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {}}
        resources[f"Green{n}"] = {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {}}
        resources[f"Rule{n}"] = {
            "Type": "AWS::ElasticLoadBalancingV2::ListenerRule",
            "Properties": {
                "ListenerArn": {"Ref": "Http"},
                "Actions": [
                    {"Type": "forward", "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": {"Ref": f"Blue{n}"}}]}}
                ],
            },
        }
        resources[f"Group{n}"] = {
            "Type": "AWS::CodeDeploy::DeploymentGroup",
            "Properties": {
                "LoadBalancerInfo": {
                    "TargetGroupPairInfoList": [
                        {
                            "ProdTrafficRoute": {"ListenerArns": [{"Ref": "Http"}]},
                            "TargetGroups": [
                                {"Name": {"Fn::GetAtt": [f"Blue{n}", "TargetGroupName"]}},
                                {"Name": {"Fn::GetAtt": [f"Green{n}", "TargetGroupName"]}},
                            ],
                        }
                    ]
                }
            },
        }
    usage = QuotaUsage()
    # Ten stacks like it are ten load balancers, not one with ten times the rules.
    usage.add_template(DEV, REGION, {"Resources": resources}, times=10, stack="acme-foundation-dev")
    assert usage.over() == [f"target_groups_per_alb in {DEV}/{REGION}/acme-foundation-dev/Alb: 120 of 100"]
    assert f"rules_per_alb in {DEV}/{REGION}/acme-foundation-dev/Alb: 60 of 100" in usage.over(0.5)
    assert usage.used(DEV, "application_load_balancers", REGION) == 10
    with pytest.raises(ValueError, match="per load balancer"):
        usage.used(DEV, "rules_per_alb", REGION)


def test_counts_follow_scope_filters_and_multipliers() -> None:
    usage = QuotaUsage()
    template = {
        "Resources": {
            "Default": {"Type": "AWS::Events::Rule", "Properties": {}},
            "Custom": {"Type": "AWS::Events::Rule", "Properties": {"EventBusName": "other"}},
            "Network": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Type": "network"}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
        }
    }
    usage.add_template(DEV, REGION, template, times=200)
    usage.add_template(DEV, "us-east-1", template, times=200)
    assert usage.used(DEV, "rules_per_default_bus", REGION) == 200  # the custom bus's rule counts on its bus
    assert usage.used(DEV, "application_load_balancers", REGION) == 0  # a network load balancer
    assert usage.used(DEV, "iam_roles") == 400  # one account, both regions
    assert usage.used(DEV, "stacks", "us-east-1") == 200
    assert usage.over() == []
    assert usage.over(0.6) == [
        f"rules_per_default_bus in {DEV}/{REGION}: 200 of 300",
        f"rules_per_custom_bus in {DEV}/{REGION}/other: 200 of 300",
        f"rules_per_default_bus in {DEV}/us-east-1: 200 of 300",
        f"rules_per_custom_bus in {DEV}/us-east-1/other: 200 of 300",
    ]
    with pytest.raises(ValueError, match="counted per event bus"):
        usage.used(DEV, "rules_per_custom_bus", REGION)
    with pytest.raises(ValueError, match="counted per region"):
        usage.used(DEV, "vpcs")
    assert BY_KEY["codedeploy_custom_configs"].adjustable is False


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_every_resource_type_the_platform_creates_is_counted_or_says_why_not(
    which: str, request: pytest.FixtureRequest
) -> None:
    """A type no quota counts and NOT_COUNTED does not explain fails here, so that its quota is looked up
    before it multiplies by hundreds of services."""
    types = request.getfixturevalue(which).resource_types()
    assert sorted(t for t in types if counted_by(t) is None) == []


def test_every_explanation_is_about_a_type_the_platform_has(
    default_platform: SynthesizedPlatform, varied_platform: SynthesizedPlatform
) -> None:
    assert set(NOT_COUNTED) - default_platform.resource_types() - varied_platform.resource_types() == set()


def test_the_per_service_counts_the_new_quotas_see(default_platform: SynthesizedPlatform) -> None:
    usage = usage_of_assembly(default_platform.outdir)
    # One Auto Scaling group, launch template and State Manager association per EC2 service and environment;
    # one deployment group per service and environment; one repository per service and the platform's.
    for account in (DEV, PROD):
        assert usage.used(account, "autoscaling_groups", REGION) == 1
        assert usage.used(account, "launch_templates", REGION) == 1
        assert usage.used(account, "ssm_associations", REGION) == 1
        assert usage.used(account, "codedeploy_deployment_groups", REGION) == 3
    assert usage.used(TOOLING, "codecommit_repositories", REGION) == 3 + 1
    assert usage.used(TOOLING, "codeartifact_domains", REGION) == 1
