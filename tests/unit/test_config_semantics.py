"""A config the platform accepts must deploy: every mistake that would fail at deploy, or mean something
else, is refused with one line per problem naming the field, the value and what is allowed.

The AWS facts come from published data shipped offline (config/aws_data.json from botocore, the
Fargate table, the tag rules): see config/aws_facts.py.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, load_config, parse_config
from config.loader import DEFAULT_CONFIG
from tests.config_cases import example_config, only_problem, problems_of

CERTIFICATE = "arn:aws:acm:eu-west-1:333333333333:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


@pytest.fixture()
def raw() -> dict[str, Any]:
    return example_config()


def file_problems(tmp_path: Path, content: bytes | str) -> list[str]:
    path = tmp_path / "platform.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


# ----- the file -----


def test_a_key_given_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG.read_text().replace("    approval: true\n", "    approval: true\n    approval: false\n")
    lines = text.splitlines()
    first = lines.index("    approval: true") + 1
    assert file_problems(tmp_path, text) == [
        f"environments[1].approval: given twice, on lines {first} and {first + 1}; allowed: each key once "
        "(YAML would silently keep only the last)"
    ]


def test_a_second_services_block_is_refused_not_a_silent_replacement(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG.read_text() + "\nservices: []\n"
    (problem,) = file_problems(tmp_path, text)
    assert problem.startswith("services: given twice, on lines ")


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    text = DEFAULT_CONFIG.read_text().replace("Web front end", "Web front \xe9nd").encode("latin-1")
    (problem,) = file_problems(tmp_path, text)
    line = text[: text.index(b"\xe9")].count(b"\n") + 1
    assert problem.startswith(f"line {line}: byte 0xe9 is not UTF-8")
    assert problem.endswith("allowed: a UTF-8 file (save it with UTF-8 encoding)")


def test_a_utf8_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + DEFAULT_CONFIG.read_bytes())
    assert load_config(path).name == "acme"


def test_a_directory_is_not_reported_as_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.problems[0].startswith(f"{str(tmp_path)!r} is a directory; allowed: a path to a YAML file")


def test_an_unreadable_file_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "platform.yaml"
    path.write_text("name: acme\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems[0].startswith(f"cannot read {str(path)!r}: Permission denied")


def test_an_empty_file_is_explained(tmp_path: Path) -> None:
    assert file_problems(tmp_path, "# nothing yet\n") == [
        "the file is empty; allowed: a mapping of settings (see config/platform.yaml)"
    ]


# ----- regions and networks -----


def test_a_region_that_does_not_exist_suggests_the_nearest(raw: dict[str, Any]) -> None:
    raw["tooling"]["region"] = "eu-west-9"
    problem = only_problem(raw)
    assert problem.startswith('tooling.region: got "eu-west-9"; allowed: a region of the aws partition (did you mean')
    assert "eu-west-1" in problem


def test_a_region_without_codeartifact_cannot_host_the_tooling_account(raw: dict[str, Any]) -> None:
    raw["tooling"]["region"] = "ca-central-1"
    problem = only_problem(raw)
    assert problem.startswith("tooling.region: ca-central-1 has no endpoint for codeartifact")
    assert "eu-west-1" in problem


def test_availability_zones_of_another_region(raw: dict[str, Any]) -> None:
    raw["environments"][0]["network"] = {"availability_zones": ["us-east-1a", "us-east-1b"]}
    assert only_problem(raw) == (
        "environments[0].network.availability_zones: ['us-east-1a', 'us-east-1b'] are not availability zones of "
        "eu-west-1; allowed: names such as eu-west-1a, eu-west-1b (the region's code and a letter)"
    )


@pytest.mark.parametrize(
    ("cidr", "why"),
    [
        (
            "10.300.0.0/16",
            "allowed: an IPv4 network such as 10.0.0.0/16 (Octet 300 (> 255) not permitted in '10.300.0.0')",
        ),
        ("10.0.0.1/16", "allowed: an IPv4 network such as 10.0.0.0/16 (10.0.0.1/16 has host bits set)"),
    ],
)
def test_a_cidr_that_is_no_network(raw: dict[str, Any], cidr: str, why: str) -> None:
    raw["environments"][0]["network"] = {"cidr": cidr}
    assert only_problem(raw) == f'environments[0].network.cidr: got "{cidr}"; {why}'


def test_a_vpc_too_small_for_its_subnets(raw: dict[str, Any]) -> None:
    raw["environments"][0]["network"] = {"cidr": "10.0.0.0/22"}
    assert only_problem(raw) == (
        "environments[0].network.cidr: 10.0.0.0/22 has 1024 addresses, and 2 AZs need 2560 (a public /24 and a "
        "private /22 each); allowed: /20 or larger"
    )


def test_nat_gateways(raw: dict[str, Any]) -> None:
    raw["environments"][0]["network"] = {"nat_gateways": 0}
    assert only_problem(raw) == "environments[0].network.nat_gateways: got 0; allowed: at least 1"
    raw["environments"][0]["network"] = {"nat_gateways": 3}
    assert only_problem(raw) == (
        "environments[0].network.nat_gateways: 3 for 2 availability zones; allowed: at most one per AZ"
    )


def test_one_bad_value_in_an_existing_network_is_one_line(raw: dict[str, Any]) -> None:
    raw["environments"][0]["network"] = {
        "vpc_id": "vpc-0123456789abcdef0",
        "cidr": "10.1.0.0/16",
        "availability_zones": ["eu-west-1a", "eu-west-1b"],
        "public_subnet_ids": ["subnet-0000000000000001a", "subnet-0000000000000002a"],
        "private_subnet_ids": ["subnet-0000000000000003a", "subnet-0000000000000001a"],
    }
    assert only_problem(raw) == (
        "environments[0].network.private_subnet_ids: ['subnet-0000000000000001a'] are also public subnets; "
        "allowed: separate public and private subnets"
    )


def test_an_unknown_key_in_a_new_network_is_one_line(raw: dict[str, Any]) -> None:
    raw["environments"][0]["network"] = {"cidr": "10.0.0.0/16", "nat": 2}
    assert problems_of(raw) == [
        "environments[0].network.nat: unknown field; remove it or check its spelling (see config/platform.schema.json)"
    ]


@pytest.mark.parametrize(
    ("arn", "owner"),
    [
        (CERTIFICATE.replace("eu-west-1", "us-east-1"), "account 333333333333 in us-east-1"),
        (CERTIFICATE.replace("333333333333", "222222222222"), "account 222222222222 in eu-west-1"),
    ],
)
def test_a_certificate_of_another_region_or_account(raw: dict[str, Any], arn: str, owner: str) -> None:
    raw["environments"][1]["certificate_arn"] = arn
    assert only_problem(raw) == (
        f"environments[1].certificate_arn: a certificate of {owner}; allowed: one of prod's account 333333333333 in "
        "eu-west-1 (a load balancer uses certificates of its own account and region only)"
    )


def test_new_vpcs_count_per_account_across_environments(raw: dict[str, Any]) -> None:
    raw["environments"][1]["account"] = raw["environments"][0]["account"]  # dev and prod share an account
    raw["services"].append({"name": "more", "platform": "ecs"})  # 3 EC2/ECS services in 2 environments
    parse_config(raw)  # they share each environment's foundation VPC: 2 VPCs
    raw["services"][0]["isolation"] = "network"
    raw["services"][1]["isolation"] = "network"
    assert only_problem(raw) == (
        "environments: 6 new VPCs (the foundation of dev, storefront in dev, orders in dev, the foundation of "
        "prod, storefront in prod, orders in prod), with 6 NAT gateways' Elastic IPs, in account 222222222222 "
        "(eu-west-1); allowed: at most 5 of each (AWS's default VPC and Elastic IP quotas per region): fewer "
        "services with isolation network, or an existing VPC with network.vpc_id, availability_zones, "
        "public_subnet_ids and private_subnet_ids"
    )


def test_a_shared_load_balancer_holds_at_most_100_target_groups(raw: dict[str, Any]) -> None:
    raw["services"] += [{"name": f"api{index:02d}", "platform": "ecs"} for index in range(50)]
    assert problems_of(raw)[0] == (
        "services: the shared load balancer 'main' of dev would hold 103 target groups (52 services; 2 per ECS, "
        "1 per EC2 service); allowed: at most 100 per Application Load Balancer (an AWS quota that cannot be "
        "raised): set load_balancer: <another name> on some of them"
    )
    for service in raw["services"][-25:]:
        service["load_balancer"] = "second"
    config = parse_config(raw)
    assert {k: len(v) for k, v in config.load_balancer_groups(config.environments[0]).items()} == {
        "main": 27,
        "second": 25,
    }


def test_two_services_cannot_take_the_same_route(raw: dict[str, Any]) -> None:
    raw["services"][0]["route"] = {"hosts": ["shop.example.com"]}
    raw["services"][1]["route"] = {"hosts": ["SHOP.example.com"]}
    problems = problems_of(raw)
    assert problems[0] == (
        "services: storefront and orders take the same route (hosts ['shop.example.com'], paths []) on the shared "
        "load balancer 'main' of environments[0] (dev); allowed: a route of their own each (route.hosts, "
        "route.paths)"
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("isolation", "network", "services[2]: isolation set for a service on lambda, which has no load balancer"),
        ("route", {"paths": ["/x"]}, "services[2]: route set for a service on lambda, which has no load balancer"),
    ],
)
def test_load_balancer_settings_on_a_lambda_service_are_refused(
    raw: dict[str, Any], field: str, value: Any, message: str
) -> None:
    raw["services"][2][field] = value
    assert only_problem(raw).startswith(message)


def test_a_route_has_at_most_five_condition_values(raw: dict[str, Any]) -> None:
    raw["services"][0]["route"] = {"hosts": [f"h{i}.example.com" for i in range(4)], "paths": ["/a", "/b"]}
    assert "route: 6 hosts and paths; allowed: at most 5" in only_problem(raw)


def test_rule_priorities_are_unique_and_stable_while_services_come_and_go(raw: dict[str, Any]) -> None:
    raw["services"] += [{"name": f"api{index:02d}", "platform": "ecs", "load_balancer": "extra"} for index in range(45)]
    config = parse_config(raw)
    env = config.environments[0]
    priorities = {s.name: config.listener_rule_priority(s, env) for s in config.load_balancer_groups(env)["extra"]}
    assert len(set(priorities.values())) == 45 and all(1 <= p <= 50_000 for p in priorities.values())
    raw["services"] = [s for s in raw["services"] if s["name"] != "api07"]
    fewer = parse_config(raw)
    after = {s.name: fewer.listener_rule_priority(s, env) for s in fewer.load_balancer_groups(env)["extra"]}
    assert after == {name: p for name, p in priorities.items() if name != "api07"}


# ----- services -----


@pytest.mark.parametrize(
    ("branch", "allowed"),
    [
        ("refs/heads/main", "allowed: the branch name alone, as git shows it ('main', not the ref 'refs/heads/main')"),
        ("release/.hidden", "allowed: a git branch name (no part starting with '.'"),
        ("feature.", "allowed: a git branch name (no part starting with '.'"),
    ],
)
def test_a_branch_the_trigger_would_never_match(raw: dict[str, Any], branch: str, allowed: str) -> None:
    raw["services"][0]["branch"] = branch
    assert only_problem(raw).startswith(f'services[0].branch: got "{branch}"; {allowed}')


def test_an_x86_instance_type_gets_an_x86_image() -> None:
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    data["services"][0]["ec2"] = {"instance_type": "m5.large"}
    assert parse_config(data).services[0].ec2_settings.architecture == "x86_64"
    data["services"][0]["ec2"] = {"instance_type": "m7g.large"}
    assert parse_config(data).services[0].ec2_settings.architecture == "arm64"


def test_an_instance_type_that_does_not_exist_suggests_close_ones(raw: dict[str, Any]) -> None:
    raw["services"][0]["ec2"] = {"instance_type": "t4g.smal"}
    problem = only_problem(raw)
    assert problem.startswith('services[0].ec2.instance_type: got "t4g.smal"; allowed: an EC2 instance type (did you')
    assert "t4g.small" in problem


def test_a_mac_instance_cannot_run_the_platform_image(raw: dict[str, Any]) -> None:
    raw["services"][0]["ec2"] = {"instance_type": "mac2.metal"}
    assert only_problem(raw) == (
        'services[0].ec2.instance_type: got "mac2.metal"; allowed: an instance type Amazon Linux 2023 runs on '
        "(mac instances run macOS)"
    )


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"cpu": 256, "memory_mib": 4096}, "memory_mib: 4096 with cpu 256; allowed for cpu 256: 512, 1024, 2048"),
        (
            {"cpu": 1024, "memory_mib": 3000},
            "memory_mib: 3000 with cpu 1024; allowed for cpu 1024: 2048 to 8192 in steps of 1024",
        ),
    ],
)
def test_fargate_sizes(raw: dict[str, Any], settings: dict[str, int], problem: str) -> None:
    raw["services"][1]["ecs"] = settings
    assert only_problem(raw) == f"services[1].ecs.{problem} (Fargate's task sizes)"


def test_fargate_memory_defaults_to_the_smallest_the_cpu_allows(raw: dict[str, Any]) -> None:
    raw["services"][1]["ecs"] = {"cpu": 2048}
    assert parse_config(raw).services[1].ecs_settings.memory_mib == 4096


def test_minimum_healthy_hosts_that_leave_nothing_to_deploy_to(raw: dict[str, Any]) -> None:
    raw["services"][0]["deployment_config"] = {"type": "minimum_healthy_hosts", "count": 2}
    assert only_problem(raw).startswith(
        "services[0].deployment_config: MinimumHealthy2Hosts keeps 2 of 2 instance(s) healthy (ec2.min_capacity), "
        "so CodeDeploy can deploy to none of them"
    )
    raw["services"][0]["deployment_config"] = "HalfAtATime"
    raw["services"][0]["ec2"] = {"min_capacity": 1}
    raw["services"][0]["environment_overrides"] = {}
    assert only_problem(raw).startswith("services[0].deployment_config: HalfAtATime keeps 1 of 1 instance(s) healthy")


def test_an_override_for_an_environment_the_service_does_not_deploy_to(raw: dict[str, Any]) -> None:
    raw["services"][0]["environments"] = ["prod"]
    assert only_problem(raw) == (
        "services[0].environment_overrides.dev: 'dev' is not one it deploys to of storefront, so the override would "
        "be ignored; allowed: prod"
    )


def test_alarm_thresholds_of_another_platform(raw: dict[str, Any]) -> None:
    raw["services"][0]["alarms"] = {"lambda_errors": 3}
    assert only_problem(raw) == (
        "services[0].alarms: lambda_errors set for a service on ec2, which has no such alarm; allowed for ec2: "
        "evaluation_periods, http_5xx, period_seconds, unhealthy_hosts"
    )


def test_an_unhealthy_hosts_threshold_the_fleet_can_never_reach(raw: dict[str, Any]) -> None:
    raw["services"][1]["alarms"] = {"unhealthy_hosts": 3}
    assert only_problem(raw) == (
        "services[1].alarms.unhealthy_hosts: 3 but ecs.desired_count is 2, so the alarm could never fire; "
        "allowed: at most 2"
    )


def test_a_test_payload_too_large_for_the_hooks_environment(raw: dict[str, Any]) -> None:
    raw["services"][2]["lambda"] = {"test_payload": {"blob": "x" * 4000}}
    assert only_problem(raw).startswith(
        "services[2].lambda.test_payload: 4012 characters as JSON; allowed: at most 3800"
    )


def test_branches_that_would_share_an_approval_rule_template(raw: dict[str, Any]) -> None:
    raw["services"][0]["branch"] = "release/1.x"
    raw["services"][1]["branch"] = "release-1.x"
    assert only_problem(raw) == (
        "services: branches ['release-1.x', 'release/1.x'] would share the approval rule template "
        "acme-pr-validation-release-1-x; allowed: branch names that differ in more than their punctuation and case"
    )


def test_a_pipeline_with_more_stages_than_codepipeline_allows(raw: dict[str, Any]) -> None:
    raw["environments"] = [
        {
            "name": f"env{n:02d}",
            "account": f"{400000000000 + n:012d}",
            "approval": True,
            "network": {
                "vpc_id": f"vpc-{n:017x}",
                "cidr": "10.0.0.0/16",
                "availability_zones": ["eu-west-1a", "eu-west-1b"],
                "public_subnet_ids": [f"subnet-{n:08x}00000000{1}", f"subnet-{n:08x}00000000{2}"],
                "private_subnet_ids": [f"subnet-{n:08x}00000000{3}", f"subnet-{n:08x}00000000{4}"],
            },
        }
        for n in range(24)
    ]
    for service in raw["services"]:
        service.pop("environment_overrides", None)
    problems = problems_of(raw)
    assert problems[0] == (
        "services[0].environments: storefront's pipeline would have 51 stages; allowed: at most 50 (CodePipeline's "
        "quota), so fewer environments or approvals"
    )
    assert len(problems) == 3  # one line per service


# ----- names, tags, notifications -----


def test_a_platform_name_aws_reserves(raw: dict[str, Any]) -> None:
    raw["name"] = "aws"
    assert only_problem(raw).startswith('name: got "aws"; allowed: any other name (KMS reserves the alias prefix')


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("aws:owner", "me", "tag keys starting with aws: are reserved for AWS"),
        ("owner", "x" * 257, "a tag value has at most 256 characters (this one has 257)"),
        ("owner", "a|b", "the tag value contains '|'; allowed: letters, digits, spaces and _ . : / = + - @"),
    ],
)
def test_tags_aws_refuses(raw: dict[str, Any], key: str, value: str, why: str) -> None:
    raw["tags"] = {key: value}
    problem = only_problem(raw)
    assert problem.startswith(f'tags["{key}"]: got ') and problem.endswith(f"allowed: AWS tags only ({why})")


def test_the_platform_tag_is_the_platforms(raw: dict[str, Any]) -> None:
    raw["tags"] = {"platform": "other"}
    assert only_problem(raw) == 'tags["platform"]: the platform sets this tag itself; allowed: any other key'


def test_more_tags_than_a_resource_takes(raw: dict[str, Any]) -> None:
    raw["tags"] = {f"key{n}": "v" for n in range(50)}
    assert only_problem(raw) == (
        "tags: 50 tags; allowed: at most 49 (AWS allows 50 per resource and the platform adds 1)"
    )


def test_a_channel_no_route_sends_to(raw: dict[str, Any]) -> None:
    raw["notifications"]["channels"].append({"name": "unused"})
    assert only_problem(raw) == (
        "notifications.channels[3]: 'unused' receives no events (no route names it); allowed: a channel that a "
        "route sends events to, or remove it"
    )


def test_every_problem_of_a_config_is_one_line(raw: dict[str, Any]) -> None:
    raw["tags"] = {"aws:x": "y"}
    raw["notifications"]["channels"].append({"name": "unused"})
    raw["environments"][1]["certificate_arn"] = CERTIFICATE.replace("eu-west-1", "us-east-1")
    problems = problems_of(raw)
    assert [p.split(":")[0] for p in problems] == [
        "environments[1].certificate_arn",
        "notifications.channels[3]",
        'tags["aws',
    ]
    assert not any("Traceback" in p or "Value error" in p for p in problems)


def test_names_that_join_into_the_same_name(raw: dict[str, Any]) -> None:
    raw["environments"][1] = {"name": "dev-x", "account": raw["environments"][0]["account"]}
    raw["services"] = [
        {"name": "x-api", "platform": "lambda"},
        {"name": "api", "platform": "lambda", "environments": ["dev-x"]},
    ]
    assert problems_of(raw) == [
        "services: x-api in dev and api in dev-x would both be named acme-dev-x-api in account 222222222222; "
        "allowed: service and environment names that do not join into the same name",
    ]


def test_two_channels_cannot_share_a_secret(raw: dict[str, Any]) -> None:
    raw["notifications"]["channels"][0]["secret_name"] = "acme/teams/alerts"
    assert only_problem(raw) == (
        "notifications.channels: ['releases', 'alerts'] would share the secret 'acme/teams/alerts'; allowed: one "
        "secret per channel"
    )


def test_a_numeric_tag_value_means_its_digits(raw: dict[str, Any]) -> None:
    raw["tags"] = {"cost-center": 1234}  # what YAML makes of `cost-center: 1234`
    assert parse_config(raw).tags == {"cost-center": "1234"}


def test_messages_say_what_is_allowed_not_a_regular_expression(raw: dict[str, Any]) -> None:
    raw["environments"][1]["certificate_arn"] = "arn:aws:acm:eu-west-1:333333333333:certificate/xyz"
    raw["services"][0]["ec2"] = {"instance_type": "T3.Micro", "health_check_path": "/health?full=1"}
    problems = problems_of(raw)
    assert problems == [
        'environments[1].certificate_arn: got "arn:aws:acm:eu-west-1:333333333333:certificate/xyz"; allowed: an ACM '
        "certificate ARN, arn:aws:acm:<region>:<12-digit account>:certificate/<id>",
        'services[0].ec2.instance_type: got "T3.Micro"; allowed: an EC2 instance type (did you mean t3.micro, '
        "t3a.micro, t2.micro?), e.g. t4g.small or m7g.large",
        'services[0].ec2.health_check_path: got "/health?full=1"; allowed: a path starting with / of at most 1024 '
        "characters: letters, digits and / _ . ~ ! $ & ' ( ) * + , ; = : @ % - (what a load balancer health check "
        "takes; no query string)",
    ]


TEAM = "19b2c3d4-0000-4000-8000-00000000abcd"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AMAZON_Q = {"team_id": TEAM, "channel_id": "19:a1b2c3d4e5f6@thread.tacv2", "tenant_id": TENANT}


def test_an_amazon_q_channel_is_accepted_and_has_no_webhook(raw: dict[str, Any]) -> None:
    raw["notifications"]["channels"].append({"name": "ops", "delivery": "amazon_q", "amazon_q": AMAZON_Q})
    raw["notifications"]["routes"].append({"events": ["pipeline_failed"], "channels": ["ops"]})
    config = parse_config(raw)
    ops = config.notifications.channels[-1]
    assert not ops.has_webhook and ops.amazon_q is not None and ops.amazon_q.team_id == TEAM
    assert config.notifications.channels_for("pipeline_failed") == ["alerts", "releases", "ops"]


@pytest.mark.parametrize(
    ("channel", "problem"),
    [
        (
            {"name": "ops", "delivery": "amazon_q"},
            "amazon_q: channel 'ops' has delivery amazon_q but no amazon_q settings; allowed: amazon_q: "
            "{team_id, channel_id, tenant_id}",
        ),
        (
            {"name": "ops", "delivery": "amazon_q", "amazon_q": AMAZON_Q, "secret_name": "acme/ops"},
            "secret_name: 'acme/ops' is set on the amazon_q channel 'ops'; allowed: no webhook secret",
        ),
        (
            {"name": "ops", "delivery": "amazon_q", "amazon_q": AMAZON_Q, "rate_limit_per_second": 2},
            "rate_limit_per_second: 2 is set on the amazon_q channel 'ops'; allowed: only on lambda and "
            "api_destination channels",
        ),
        (
            {"name": "ops", "amazon_q": AMAZON_Q},
            "amazon_q: set on channel 'ops' whose delivery is lambda; allowed: only with delivery: amazon_q",
        ),
        (
            {"name": "ops", "delivery": "api_destination", "rate_limit_per_second": 2.5},
            "rate_limit_per_second: 2.5 on the api_destination channel 'ops'; allowed: a whole number from 1 to 300",
        ),
        (
            {"name": "ops", "rate_limit_per_second": 50},
            "rate_limit_per_second: 50 on channel 'ops'; allowed: 0.1 to 20",
        ),
        (
            {"name": "ops", "delivery": "amazon_q", "amazon_q": {**AMAZON_Q, "channel_id": "general"}},
            "a Teams channel id such as 19:abc123@thread.tacv2",
        ),
        (
            {"name": "ops", "delivery": "amazon_q", "amazon_q": {**AMAZON_Q, "tenant_id": "contoso"}},
            "a Microsoft Entra tenant id",
        ),
    ],
)
def test_channel_delivery_settings_say_what_is_allowed(
    raw: dict[str, Any], channel: dict[str, Any], problem: str
) -> None:
    raw["notifications"]["channels"].append(channel)
    raw["notifications"]["routes"].append({"events": ["pipeline_failed"], "channels": ["ops"]})
    message = only_problem(raw)
    assert problem in message and "Traceback" not in message, message


def test_each_channel_is_one_target_of_its_rules(raw: dict[str, Any]) -> None:
    for n in range(4):
        raw["notifications"]["channels"].append({"name": f"team{n}"})
    raw["notifications"]["routes"].append({"events": ["pipeline_failed"], "channels": [f"team{n}" for n in range(4)]})
    assert "routes: pipeline_failed goes to 6 channels; allowed: at most 5 per event kind" in only_problem(raw)


def test_burst_summaries_are_configurable_or_off(raw: dict[str, Any]) -> None:
    assert parse_config(raw).notifications.burst_summary_after == 10
    raw["notifications"]["burst_summary_after"] = None
    assert parse_config(raw).notifications.burst_summary_after is None
    raw["notifications"]["burst_summary_after"] = 0
    assert "burst_summary_after" in only_problem(raw)
