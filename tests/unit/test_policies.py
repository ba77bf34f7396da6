"""The execution policies' action lists are what AWS's published data requires: no more, no less."""

from __future__ import annotations

from typing import Any

import pytest

from config import load_config
from config.model import PlatformConfig
from config.policies import (
    IAM_ACTIONS,
    TARGET_UNSCOPED_ACTIONS,
    TOOLING_UNSCOPED_ACTIONS,
    _prefixed,
    account_roles,
    execution_policies,
    execution_policy,
)
from tests.platform_synth import SynthesizedPlatform
from tools.preflight.policy import document_size
from tools.preflight.published import HANDLERS, iam_reference, resource_schemas
from tools.preflight.simulate import MANAGED_POLICY_MAX_CHARACTERS
from tools.preflight.template import Assembly

IAM_TYPES = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile")
PLATFORM_IAM_RESOURCE_TYPES = {"role", "policy", "instance-profile"}


def handler_actions(region: str, type_name: str) -> set[str]:
    schemas, iam = resource_schemas(), iam_reference()
    found: set[str] = set()
    for handler in HANDLERS:
        for permission in schemas.permissions(region, type_name, handler) or []:
            found |= {action.key for action in iam.expand(permission)}
    return found


def test_iam_actions_are_exactly_what_the_iam_handlers_call_on_roles_policies_and_profiles() -> None:
    iam = iam_reference()
    needed = set()
    for type_name in IAM_TYPES:
        for key in handler_actions("eu-west-1", type_name):
            action = iam.action(key)
            if (
                action
                and action.service == "iam"
                and {t for t, _ in action.resource_types} & PLATFORM_IAM_RESOURCE_TYPES
            ):
                needed.add(key)
    # Beyond the IAM types: passing roles to services, and the service-linked roles they create.
    needed |= {"iam:PassRole", "iam:CreateServiceLinkedRole"}
    assert set(IAM_ACTIONS) == needed


def test_unscoped_actions_are_exactly_those_of_prefixed_services_without_resource_types(
    default_platform: SynthesizedPlatform,
) -> None:
    config = default_platform.config
    iam = iam_reference()
    wanted: dict[bool, set[str]] = {True: set(), False: set()}
    for stack in Assembly(default_platform.outdir).stacks.values():
        tooling, _ = account_roles(config, stack.account)
        prefixed = set(_prefixed(config, stack.account, tooling))
        for resource in stack.resources.values():
            for key in handler_actions(stack.region, resource["Type"]):
                action = iam.action(key)
                if action and action.service in prefixed and not action.resource_types:
                    wanted[tooling].add(key)
    assert set(TOOLING_UNSCOPED_ACTIONS) == wanted[True]
    assert set(TARGET_UNSCOPED_ACTIONS) == wanted[False]


def test_every_policy_fits_a_managed_policy() -> None:
    for account, document in execution_policies(load_config()).items():
        assert document_size(document) <= MANAGED_POLICY_MAX_CHARACTERS, account


def _single_account(config: PlatformConfig) -> PlatformConfig:
    data: dict[str, Any] = config.model_dump(by_alias=True)
    for env in data["environments"]:
        env["account"] = data["tooling"]["account"]
    return PlatformConfig.model_validate(data)


def test_an_account_that_is_tooling_and_target_gets_both_sets_of_permissions() -> None:
    config = _single_account(load_config())
    (only,) = execution_policies(config)
    document = execution_policy(config, only)
    services = next(s for s in document["Statement"] if s["Sid"] == "InfrastructureServices")["Action"]
    assert {"ec2:*", "ecs:*", "kms:*", "elasticloadbalancing:*"} <= set(services)
    sids = {s["Sid"] for s in document["Statement"]}
    assert {"PrefixedCodepipeline", "PrefixedLambda", "NoResourceLevelPermissions", "ReadCdkAssets"} <= sids
    assert document_size(document) <= MANAGED_POLICY_MAX_CHARACTERS


def test_s3_outside_the_prefix_is_only_reading_the_bootstrap_bucket_of_the_account() -> None:
    config = load_config()
    document = execution_policy(config, config.environments[0].account)
    s3 = [s for s in document["Statement"] if any(str(a).startswith("s3:") for a in _as_list(s["Action"]))]
    assert {s["Sid"] for s in s3} == {"PrefixedS3", "ReadCdkAssets"}
    reads = next(s for s in s3 if s["Sid"] == "ReadCdkAssets")
    assert reads["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert reads["Resource"] == ["arn:aws:s3:::cdk-hnb659fds-assets-222222222222-eu-west-1/*"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_an_account_outside_the_platform_has_no_policy() -> None:
    with pytest.raises(ValueError, match="not an account"):
        execution_policy(load_config(), "999999999999")
