"""CodeArtifact: domain, repositories and their upstream order, policies, build access, validation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import ConfigError, parse_config
from config.loader import DEFAULT_CONFIG
from tests.platform_synth import SynthesizedPlatform, resources_of_type, synth_platform

TOOLING = "111111111111"
BUILD_ROLE_PATTERNS = [
    f"arn:aws:iam::{TOOLING}:role/acme-*-build",  # pipeline build and test
    f"arn:aws:iam::{TOOLING}:role/acme-*-pr",  # pull-request builds
    f"arn:aws:iam::{TOOLING}:role/acme-platform-*",  # the platform pipeline's build, deploy, rollout and pr
]


@pytest.fixture()
def raw_config() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))


def repositories(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["RepositoryName"]: r for r in resources_of_type(raw, "AWS::CodeArtifact::Repository").values()
    }


def test_domain_is_encrypted_with_a_rotated_customer_key_and_retained(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-codeartifact")
    ((key_id, key),) = resources_of_type(raw, "AWS::KMS::Key").items()
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "RetainExceptOnCreate"
    (domain,) = resources_of_type(raw, "AWS::CodeArtifact::Domain").values()
    assert domain["Properties"]["DomainName"] == "acme"
    assert domain["Properties"]["EncryptionKey"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert domain["DeletionPolicy"] == "RetainExceptOnCreate"


def test_repositories_have_their_external_connections_and_upstreams(default_platform: SynthesizedPlatform) -> None:
    repos = repositories(default_platform.template_json("acme-codeartifact"))
    assert repos["pypi-store"]["Properties"]["ExternalConnections"] == ["public:pypi"]
    assert repos["npm-store"]["Properties"]["ExternalConnections"] == ["public:npmjs"]
    assert repos["shared"]["Properties"]["Upstreams"] == ["pypi-store", "npm-store"]
    assert "ExternalConnections" not in repos["shared"]["Properties"]
    for repo in repos.values():
        assert repo["DeletionPolicy"] == "RetainExceptOnCreate"
        assert repo["Properties"]["DomainOwner"] == TOOLING


def test_policies_let_platform_builds_and_target_accounts_read_and_nobody_publish(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-codeartifact")
    (domain,) = resources_of_type(raw, "AWS::CodeArtifact::Domain").values()
    domain_statements = domain["Properties"]["PermissionsPolicyDocument"]["Statement"]
    assert [s["Principal"] for s in domain_statements] == [
        {"AWS": f"arn:aws:iam::{TOOLING}:root"},
        {"AWS": ["arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"]},
    ]
    assert domain_statements[0]["Condition"] == {"ArnLike": {"aws:PrincipalArn": BUILD_ROLE_PATTERNS}}
    assert all("codeartifact:GetAuthorizationToken" in s["Action"] for s in domain_statements)
    for name, repo in repositories(raw).items():
        statements = repo["Properties"]["PermissionsPolicyDocument"]["Statement"]
        assert [s["Sid"] for s in statements] == ["ReadByPlatformBuilds", "ReadByTargetAccounts"], name
        for statement in statements:
            assert "codeartifact:ReadFromRepository" in statement["Action"]
            assert not any(a.startswith("codeartifact:Publish") for a in statement["Action"])


def test_named_publishers_may_publish_to_their_repository_only(raw_config: dict[str, Any], tmp_path: Path) -> None:
    publisher = "arn:aws:iam::111111111111:role/release-bot"
    raw_config["codeartifact"]["repositories"][2]["publishers"] = [publisher]
    raw_config["services"] = []
    platform = synth_platform(parse_config(raw_config), tmp_path)
    repos = repositories(platform.template_json("acme-codeartifact"))
    publish = [
        s
        for s in repos["shared"]["Properties"]["PermissionsPolicyDocument"]["Statement"]
        if s["Sid"] == "PublishByNamedRoles"
    ]
    assert publish[0]["Principal"] == {"AWS": [publisher]}
    assert "codeartifact:PublishPackageVersion" in publish[0]["Action"]
    for other in ("pypi-store", "npm-store"):
        sids = [s["Sid"] for s in repos[other]["Properties"]["PermissionsPolicyDocument"]["Statement"]]
        assert "PublishByNamedRoles" not in sids


def test_outputs_give_the_pip_and_npm_endpoints(default_platform: SynthesizedPlatform) -> None:
    outputs = default_platform.template_json("acme-codeartifact")["Outputs"]
    base = f"https://acme-{TOOLING}.d.codeartifact.eu-west-1.amazonaws.com"
    assert outputs["SharedPypiEndpoint"]["Value"] == f"{base}/pypi/shared/simple/"
    assert outputs["SharedNpmEndpoint"]["Value"] == f"{base}/npm/shared/"


def with_action(statements: list[dict[str, Any]], action: str) -> dict[str, Any]:
    (found,) = [s for s in statements if action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    return found


def test_build_roles_get_least_privilege_codeartifact_access(default_platform: SynthesizedPlatform) -> None:
    # A service's build role, and the one pull-request role all pull-request projects share (docs/adr/0006).
    for stack, role_name in (("acme-pipeline-orders", "acme-orders-build"), ("acme-tooling", "acme-shared-pr")):
        raw = default_platform.template_json(stack)
        roles = {r["Properties"].get("RoleName"): k for k, r in resources_of_type(raw, "AWS::IAM::Role").items()}
        role_id = roles[role_name]
        statements = [
            s
            for p in resources_of_type(raw, "AWS::IAM::Policy").values()
            if {"Ref": role_id} in p["Properties"]["Roles"]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]

        assert with_action(statements, "codeartifact:GetAuthorizationToken")["Resource"] == (
            f"arn:aws:codeartifact:eu-west-1:{TOOLING}:domain/acme"
        )
        read = with_action(statements, "codeartifact:ReadFromRepository")
        assert read["Resource"] == f"arn:aws:codeartifact:eu-west-1:{TOOLING}:repository/acme/shared"
        assert sorted(read["Action"]) == ["codeartifact:GetRepositoryEndpoint", "codeartifact:ReadFromRepository"]
        bearer = with_action(statements, "sts:GetServiceBearerToken")
        assert bearer == {
            "Action": "sts:GetServiceBearerToken",
            "Condition": {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
            "Effect": "Allow",
            "Resource": "*",
        }


def test_a_three_level_chain_is_created_upstreams_first(raw_config: dict[str, Any], tmp_path: Path) -> None:
    raw_config["codeartifact"]["repositories"] = [
        # listed out of order on purpose: creation order comes from the upstreams
        {"name": "team-a", "upstreams": ["shared"]},
        {"name": "shared", "upstreams": ["public"]},
        {"name": "public", "external_connections": ["public:pypi"]},
    ]
    raw_config["codeartifact"]["default_repository"] = "team-a"
    raw_config["services"] = raw_config["services"][2:]
    platform = synth_platform(parse_config(raw_config), tmp_path)
    raw = platform.template_json("acme-codeartifact")
    repos = repositories(raw)
    ids = {
        name: next(k for k, r in resources_of_type(raw, "AWS::CodeArtifact::Repository").items() if r is repo)
        for name, repo in repos.items()
    }
    assert repos["public"]["DependsOn"] == ["Domain"]
    assert repos["shared"]["DependsOn"] == sorted(["Domain", ids["public"]])
    assert repos["team-a"]["DependsOn"] == sorted(["Domain", ids["shared"]])
    assert list(repos) == ["public", "shared", "team-a"]  # template order follows creation order
    variables = {
        v["Name"]: v["Value"]
        for p in resources_of_type(platform.template_json("acme-pipeline-pricing"), "AWS::CodeBuild::Project").values()
        for v in p["Properties"]["Environment"]["EnvironmentVariables"]
    }
    assert variables["CODEARTIFACT_REPOSITORY"] == "team-a"


# ----- validation -----


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_upstream_must_exist(raw_config: dict[str, Any]) -> None:
    raw_config["codeartifact"]["repositories"][2]["upstreams"] = ["pypi-store", "maven-store"]
    assert problems(raw_config) == [
        "codeartifact.repositories[2].upstreams: 'maven-store' is not a repository of this domain; "
        "allowed: pypi-store, npm-store"
    ]


def test_upstream_cycle_is_refused(raw_config: dict[str, Any]) -> None:
    raw_config["codeartifact"]["repositories"][0]["upstreams"] = ["shared"]
    assert problems(raw_config) == [
        "codeartifact.repositories: upstreams form a cycle pypi-store -> shared -> pypi-store; "
        "allowed: an acyclic chain"
    ]


def test_more_than_ten_upstreams_is_refused(raw_config: dict[str, Any]) -> None:
    extra = [{"name": f"r{i:02d}"} for i in range(11)]
    raw_config["codeartifact"]["repositories"] += extra
    raw_config["codeartifact"]["repositories"][2]["upstreams"] = [r["name"] for r in extra]
    assert problems(raw_config) == [
        "codeartifact.repositories[2].upstreams: 11 repositories; allowed: at most 10 per repository"
    ]


def test_two_external_connections_are_refused(raw_config: dict[str, Any]) -> None:
    raw_config["codeartifact"]["repositories"][0]["external_connections"] = ["public:pypi", "public:npmjs"]
    (message,) = problems(raw_config)
    assert message.startswith("codeartifact.repositories[0].external_connections: ['public:pypi', 'public:npmjs']")
    assert message.endswith("allowed: at most one per repository (chain repositories as upstreams to combine them)")


def test_unknown_external_connection_is_refused(raw_config: dict[str, Any]) -> None:
    raw_config["codeartifact"]["repositories"][0]["external_connections"] = ["public:pypy"]
    (message,) = problems(raw_config)
    assert message.startswith(
        "codeartifact.repositories[0].external_connections: 'public:pypy' is not a CodeArtifact external connection; "
        "allowed: public:npmjs, public:pypi, public:maven-central"
    )


@pytest.mark.parametrize("bad", ["Shared", "shared_repo", "-shared", "x"])
def test_invalid_repository_name(raw_config: dict[str, Any], bad: str) -> None:
    raw_config["codeartifact"]["repositories"][2]["name"] = bad
    raw_config["codeartifact"]["default_repository"] = bad
    found = [p for p in problems(raw_config) if p.startswith("codeartifact.repositories[2].name")]
    assert len(found) == 1
    assert found[0].startswith(f'codeartifact.repositories[2].name: got "{bad}"; allowed: 2 to 100 characters')


@pytest.mark.parametrize("bad", ["Acme", "acme_domain", "9acme", "a"])
def test_invalid_domain_name(raw_config: dict[str, Any], bad: str) -> None:
    raw_config["codeartifact"]["domain"] = bad
    assert problems(raw_config) == [
        f'codeartifact.domain: got "{bad}"; allowed: 2 to 50 characters, lowercase letters, digits and hyphens, '
        "starting with a letter"
    ]


def test_service_repository_must_exist(raw_config: dict[str, Any]) -> None:
    raw_config["services"][0]["codeartifact_repository"] = "team-z"
    assert problems(raw_config) == [
        "services[0].codeartifact_repository: 'team-z' is not a repository of codeartifact; "
        "allowed: pypi-store, npm-store, shared"
    ]
