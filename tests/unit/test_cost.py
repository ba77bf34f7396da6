"""The cost model (tools/cost.py): prices by region, counts from templates, the marginal cost, the report."""

from __future__ import annotations

import copy
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.loader import DEFAULT_CONFIG
from tools import cost
from tools.cost import Platform, StackCost

EU = cost.prices_for("eu-west-1")
HOURS = cost.HOURS_PER_MONTH


def test_prices_are_recorded_per_region_with_their_source_and_date() -> None:
    table = cost.load_prices()
    assert {"eu-west-1", "us-east-1"} <= set(table)
    assert EU["nat_gateway_hour"].usd == 0.048
    assert EU["alb_hour"].usd == 0.0252
    assert cost.prices_for("us-east-1")["nat_gateway_hour"].usd == 0.045
    for region, prices in table.items():
        # every region prices every fixed item and every run item the model uses
        needed = {p for p, _, _ in cost.FIXED.values()} | set(cost.COMPUTE_PRICES.values())
        assert needed | {"codepipeline_v2_action_minute"} <= set(prices), region
        for price in prices.values():
            assert price.source.startswith("https://"), price
            assert price.read in ("2026-12-02", "2026-12-03")
            assert price.kind in ("aws", "aws-copy", "third-party")
            assert price.kind != "third-party" or not price.confirmed, f"{region} {price.key}: a third party confirms"


def test_a_region_without_prices_is_an_error_naming_it_and_the_regions_that_have_prices() -> None:
    with pytest.raises(cost.UnknownRegionError) as error:
        cost.prices_for("ap-south-2")
    assert "ap-south-2" in str(error.value)
    assert "eu-west-1, us-east-1" in str(error.value)


def test_an_unconfirmed_price_says_so_in_the_report() -> None:
    assert "not confirmed" in cost._price_row(EU["alb_hour"])
    assert "not confirmed" not in cost._price_row(EU["kms_key_month"])
    assert cost.unit_price(0.4) == "$0.40"
    assert cost.unit_price(0.0252) == "$0.0252"


def _resource(kind: str, **properties: Any) -> dict[str, Any]:
    return {"Type": kind, "Properties": properties}


HANDCRAFTED = {
    "Resources": {
        "Nat": _resource("AWS::EC2::NatGateway", AllocationId={"Fn::GetAtt": ["Eip", "AllocationId"]}),
        "Eip": _resource("AWS::EC2::EIP", Domain="vpc"),
        "PublicAlb": _resource(
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            Scheme="internet-facing",
            Subnets=[{"Ref": "A"}, {"Ref": "B"}, {"Ref": "C"}],
        ),
        "ImportedSubnetsAlb": _resource(
            "AWS::ElasticLoadBalancingV2::LoadBalancer", Subnets={"Fn::Split": [",", {"Fn::ImportValue": "x"}]}
        ),
        "InternalAlb": _resource(
            "AWS::ElasticLoadBalancingV2::LoadBalancer", Scheme="internal", Subnets=[{"Ref": "A"}, {"Ref": "B"}]
        ),
        "Nlb": _resource("AWS::ElasticLoadBalancingV2::LoadBalancer", Type="network", Subnets=["a", "b"]),
        "Endpoint": _resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Interface", SubnetIds=["a", "b"]),
        "S3Endpoint": _resource("AWS::EC2::VPCEndpoint", VpcEndpointType="Gateway"),
        "RotatingKey": _resource("AWS::KMS::Key", EnableKeyRotation=True),
        "Key": _resource("AWS::KMS::Key"),
        "Secret": _resource("AWS::SecretsManager::Secret"),
        "Alarm": _resource("AWS::CloudWatch::Alarm", MetricName="Errors", Period=60),
        "MathAlarm": _resource(
            "AWS::CloudWatch::Alarm",
            Metrics=[
                {"Id": "a", "MetricStat": {"Metric": {}, "Period": 300, "Stat": "Sum"}},
                {"Id": "b", "MetricStat": {"Metric": {}, "Period": 300, "Stat": "Sum"}},
                {"Id": "rate", "Expression": "a / b"},
            ],
        ),
        "FastAlarm": _resource("AWS::CloudWatch::Alarm", MetricName="Latency", Period=10),
        "Composite": _resource("AWS::CloudWatch::CompositeAlarm", AlarmRule="ALARM(Alarm)"),
        "Cluster": _resource("AWS::ECS::Cluster", ClusterSettings=[{"Name": "containerInsights", "Value": "enhanced"}]),
        "Bucket": _resource("AWS::S3::Bucket"),
    }
}


def test_counts_from_a_handcrafted_template() -> None:
    counts = cost.count_template(HANDCRAFTED, default_azs=2)
    assert counts["nat_gateway"] == 1
    # the NAT gateway's Elastic IP, three subnets of one public ALB, two (the AZ count) of the other
    assert counts["public_ipv4"] == 1 + 3 + 2
    assert counts["alb"] == 3  # internal ones pay hours too
    assert counts["unpriced:network load balancer"] == 1
    assert counts["interface_endpoint_az"] == 2  # the gateway endpoint is free
    assert (counts["kms_key"], counts["kms_key_rotating"]) == (2, 1)
    assert counts["secret"] == 1
    assert counts["alarm_metric"] == 1 + 2  # a metric-math alarm pays for each metric it reads
    assert counts["alarm_metric_high_res"] == 1
    assert counts["composite_alarm"] == 1
    assert counts["container_insights_cluster"] == 1
    assert counts["usage:AWS::S3::Bucket"] == 1


def test_the_fixed_cost_of_the_handcrafted_template() -> None:
    counts = cost.count_template(HANDCRAFTED, default_azs=3)  # the token-subnet ALB now sits in 3 AZs
    expected = HOURS * (0.048 + (1 + 3 + 3) * 0.005 + 3 * 0.0252 + 2 * 0.01) + 2 * 1.0 + 0.40 + 3 * 0.10 + 0.30 + 0.50
    assert cost.fixed_monthly(counts, EU) == pytest.approx(expected)
    lines = {line.key: line.monthly for line in cost.fixed_lines(counts, EU)}
    assert lines["nat_gateway"] == pytest.approx(35.04)
    assert "kms_key_rotating" not in lines  # rotation is reported, not in the fixed total


def test_a_pipeline_run_from_its_actions() -> None:
    def action(category: str, provider: str, **configuration: Any) -> dict[str, Any]:
        return {"ActionTypeId": {"Category": category, "Provider": provider}, "Configuration": configuration}

    template = {
        "Resources": {
            "Project": _resource(
                "AWS::CodeBuild::Project", Environment={"Type": "ARM_CONTAINER", "ComputeType": "BUILD_GENERAL1_SMALL"}
            ),
            "Pipeline": _resource(
                "AWS::CodePipeline::Pipeline",
                Name="p",
                PipelineType="V2",
                Stages=[
                    {"Name": "Source", "Actions": [action("Source", "CodeCommit")]},
                    {"Name": "Build", "Actions": [action("Build", "CodeBuild", ProjectName={"Ref": "Project"})]},
                    {"Name": "Approve", "Actions": [action("Approval", "Manual")]},
                    {"Name": "Deploy", "Actions": [action("Deploy", "CodeDeploy")]},
                ],
            ),
        }
    }
    (run,) = cost.pipeline_runs(template)
    assert run.action_minutes == 1 + 6 + 0 + 10
    assert run.build_minutes == {"codebuild_arm1_small_minute": cost.BUILD_MINUTES}
    assert run.cost(EU) == pytest.approx(17 * 0.002 + 5 * 0.0034)
    v1 = copy.deepcopy(template)
    v1["Resources"]["Pipeline"]["Properties"]["PipelineType"] = "V1"
    assert math.isnan(cost.pipeline_runs(v1)[0].cost(EU))  # V1 is priced per active pipeline, not per run


def _stack(name: str, account: str, group: str, counts: dict[str, int], platform: str | None = None) -> StackCost:
    return StackCost(name, account, "eu-west-1", group, Counter(counts), platform=platform)


def _platform(*stacks: StackCost) -> Platform:
    return Platform("p", "111111111111", {"222222222222": "dev", "333333333333": "prod"}, list(stacks))


BASE = _platform(
    _stack("tooling", "111111111111", "tooling", {"kms_key": 1}),
    _stack("foundation-dev", "222222222222", "foundation", {"nat_gateway": 1, "alb": 1, "public_ipv4": 3}),
    _stack("foundation-prod", "333333333333", "foundation", {"nat_gateway": 1, "alb": 1, "public_ipv4": 3}),
)


def test_the_marginal_cost_is_the_difference_per_environment_account() -> None:
    shared = _platform(
        *BASE.stacks,
        _stack("svc-dev", "222222222222", "service", {"alarm_metric": 4}, "ecs"),
        _stack("svc-prod", "333333333333", "service", {"alarm_metric": 4}, "ecs"),
        _stack("pipeline-svc", "111111111111", "pipeline", {"kms_key": 1}, "ecs"),
    )
    assert cost.marginal_by_environment(BASE, shared, cost.load_prices()) == pytest.approx({"dev": 0.40, "prod": 0.40})
    # a service that makes the foundation of dev grow (a second ALB) pays for it there
    grown = _platform(
        *(s for s in shared.stacks if s.name != "foundation-dev"),
        _stack("foundation-dev", "222222222222", "foundation", {"nat_gateway": 1, "alb": 2, "public_ipv4": 5}),
    )
    marginal = cost.marginal_by_environment(BASE, grown, cost.load_prices())
    assert marginal["dev"] == pytest.approx(0.40 + HOURS * (0.0252 + 2 * 0.005))
    assert marginal["prod"] == pytest.approx(0.40)


def test_representatives_count_once_per_service_of_their_platform() -> None:
    one = _platform(*BASE.stacks, _stack("svc-dev", "222222222222", "service", {"alarm_metric": 2}, "ec2"))
    many = cost.multiplied(one, Counter({"ec2": 67}))
    assert many.counts()["alarm_metric"] == 134
    assert many.monthly(cost.load_prices()) == pytest.approx(one.monthly(cost.load_prices()) + 66 * 0.20)


def _default_data() -> dict[str, Any]:
    return dict(yaml.safe_load(DEFAULT_CONFIG.read_text()))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    """The example platform synthesized once, as `make cost` does."""
    return cost.synthesize("default config", _default_data(), tmp_path_factory.mktemp("cost"))


def test_a_synthesized_platform_is_grouped_by_account(synthesized: Platform) -> None:
    tooling = [s for s in synthesized.stacks if s.account == synthesized.tooling_account]
    assert {s.group for s in tooling} == {"tooling", "pipeline"}
    pipelines = {s.service: s for s in tooling if s.group == "pipeline"}
    assert set(pipelines) == {"storefront", "orders", "pricing"}
    for stack in pipelines.values():
        (run,) = stack.runs
        assert run.pipeline_type == "V2" and run.cost(EU) > 0
        assert run.build_minutes  # the builds' compute type has a price
        assert stack.counts["kms_key"] >= 1  # the artifact key: fixed, per pipeline
    for account in synthesized.accounts:
        services = [s for s in synthesized.stacks if s.account == account and s.group == "service"]
        assert {s.platform for s in services} == {"ec2", "ecs", "lambda"}
        # whatever the foundation holds, it is in the account, and every stack is counted somewhere
        assert all(s.group in ("foundation", "service") for s in synthesized.stacks if s.account == account)
    assert synthesized.monthly(cost.load_prices()) > 0


def test_the_before_layout_puts_ec2_and_ecs_services_on_their_own_network() -> None:
    before = cost.isolated(_default_data())
    platforms = {s["name"]: (s["platform"], s.get("isolation")) for s in before["services"]}
    expected = "network" if cost.has_isolation() else None
    assert platforms == {"storefront": ("ec2", expected), "orders": ("ecs", expected), "pricing": ("lambda", None)}


def _report(synthesized: Platform, extras: dict[str, Platform]) -> str:
    return cost.render(
        today="2026-12-02",
        source="config/platform.yaml",
        region="eu-west-1",
        prices=cost.load_prices(),
        default=(synthesized, synthesized),
        at_scale=(synthesized, synthesized),
        base=synthesized,
        extras=extras,
        notes=["a note"],
    )


def test_the_report_renders_with_the_target_verdict(synthesized: Platform) -> None:
    same = _report(synthesized, dict.fromkeys(("ec2", "ecs", "lambda"), synthesized))
    assert same.startswith("# Cost model\n\nGenerated by `make cost`")
    assert "on 2026-12-02" in same
    assert "| ec2 | $0.00 | $0.00 |" in same and same.count("**PASS**") == 2
    # an ECS service that brings its own NAT gateway and load balancer fails the target
    account = next(iter(synthesized.accounts))
    own = _stack("own", account, "service", {"nat_gateway": 1, "alb": 1, "public_ipv4": 3}, "ecs")
    heavy = Platform(synthesized.label, synthesized.tooling_account, synthesized.accounts, [*synthesized.stacks, own])
    failing = _report(synthesized, {"ec2": synthesized, "ecs": heavy, "lambda": synthesized})
    ecs_row = next(line for line in failing.splitlines() if line.startswith("| ecs |"))
    assert "**FAIL**" in ecs_row and "$64.39" in ecs_row
    for section in ("## Prices (eu-west-1)", "## Default config", "## 200 services", "per run", "## Excluded"):
        assert section in same


def test_make_cost_stops_on_a_region_without_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _default_data()
    data["tooling"]["region"] = "eu-central-1"
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(data))
    assert cost.main(["-c", str(config), "-o", str(tmp_path / "cost.md")]) == 1
    assert "no prices for region eu-central-1" in capsys.readouterr().err
    assert not (tmp_path / "cost.md").exists()


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_every_resource_type_the_platform_creates_is_classified(which: str, request: pytest.FixtureRequest) -> None:
    """A resource type the model neither prices nor lists as usage nor as free fails here, so that it is counted
    against cost before it ships (the varied platform has waiting freezes' schedules, amazon_q channels...)."""
    platform = request.getfixturevalue(which)
    types = platform.resource_types()
    unclassified = sorted(t for t in types if cost.classification(t) is None)
    assert unclassified == [], f"classify in tools/cost.py (COUNTED, USAGE or NO_CHARGE): {unclassified}"
    if which == "varied_platform":
        assert cost.classification("AWS::Scheduler::Schedule") == "usage"
        assert "AWS::Scheduler::Schedule" in types


def test_the_counted_types_are_the_ones_count_template_prices() -> None:
    # Each COUNTED type alone in a template gives a priced count; a USAGE or NO_CHARGE type gives none.
    for resource_type in cost.COUNTED:
        properties = {"Type": "application"} if "LoadBalancer" in resource_type else {}
        if resource_type == "AWS::EC2::VPCEndpoint":
            properties = {"VpcEndpointType": "Interface", "SubnetIds": ["a"]}
        counts = cost.count_template({"Resources": {"R": {"Type": resource_type, "Properties": properties}}})
        assert any(k in cost.FIXED for k in counts), (resource_type, counts)
    for resource_type in [*cost.USAGE, *(t for t in cost.NO_CHARGE if t != "Custom::*")]:
        counts = cost.count_template({"Resources": {"R": {"Type": resource_type, "Properties": {}}}})
        assert not any(k in cost.FIXED for k in counts), (resource_type, counts)
