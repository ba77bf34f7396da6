"""AmazonQTeamsChannel on its own: the synthesized topic, key statement, role, guardrail and channel
configuration, the input checks, and the gates (cdk-nag, cfn-lint) on a small stack."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as event_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from cdk_constructs.amazon_q_teams import (
    CONFIGURATION_NAME_MAX_LENGTH,
    CONFIGURATION_NAME_PATTERN,
    GUID_PATTERN,
    LOGGING_LEVELS,
    AmazonQTeamsChannel,
    teams_channel_id,
)
from cdk_constructs.nag import acknowledge
from tests.gates.nag_gate import acknowledgements, nag_findings
from tests.gates.test_cfn_lint import lint_templates
from tests.platform_synth import cdk_json_context, new_app, resources_of_type

ACCOUNT, REGION = "111111111111", "eu-west-1"
STACK = "acme-notifications"
TEAM = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
TENANT = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
CHANNEL_ID = "19:b6ef35dc342d56ba5654e6fc6d25a071@thread.tacv2"  # as Teams shows it (and config/model.py takes it)
ENCODED_CHANNEL_ID = "19%3ab6ef35dc342d56ba5654e6fc6d25a071%40thread.tacv2"  # the CloudFormation reference's example
TYPE = "AWS::Chatbot::MicrosoftTeamsChannelConfiguration"
TOPIC_ARN_PREFIX = f"arn:aws:sns:{REGION}:{ACCOUNT}"


def props(**overrides: Any) -> dict[str, Any]:
    return {
        "platform_name": "acme",
        "channel": "alerts",
        "team_id": TEAM,
        "channel_id": CHANNEL_ID,
        "tenant_id": TENANT,
        **overrides,
    }


def synthesized_json(stack: cdk.Stack) -> dict[str, Any]:
    return dict(Template.from_stack(stack).to_json())


def bare_stack() -> cdk.Stack:
    app = cdk.App(context={**cdk_json_context(), "aws:cdk:bundling-stacks": []})
    return cdk.Stack(app, STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[cdk.App, Path, dict[str, Any]]:
    """Two channels in the notifications stack's shape, each the target of a rule the way the stack wires it."""
    outdir = tmp_path_factory.mktemp("amazon-q")
    app = new_app(outdir)
    stack = cdk.Stack(app, STACK, env=cdk.Environment(account=ACCOUNT, region=REGION))
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    alerts = AmazonQTeamsChannel(stack, "AmazonQ-alerts", **props(), key=key)
    AmazonQTeamsChannel(stack, "AmazonQ-releases", **props(channel="releases", logging_level="INFO"), key=key)
    rule = events.Rule(
        stack,
        "Notify",
        event_pattern=events.EventPattern(source=["aws.codepipeline"]),
        targets=[event_targets.SnsTopic(alerts.topic)],
    )
    acknowledge(
        rule,
        "Serverless-EventBusDLQ",
        "Test scaffolding: this rule only shows that an SnsTopic target adds no policy statement; the "
        "notifications stack gives its rules a dead-letter queue.",
    )
    app.synth()
    template = json.loads((outdir / f"{STACK}.template.json").read_text())
    return app, outdir, template


@pytest.fixture(scope="module")
def template(synthesized: tuple[cdk.App, Path, dict[str, Any]]) -> dict[str, Any]:
    return synthesized[2]


def one(template: dict[str, Any], type_name: str, **properties: Any) -> dict[str, Any]:
    """The one resource of `type_name` whose properties include `properties`."""
    found = [
        r
        for r in resources_of_type(template, type_name).values()
        if all(r["Properties"].get(k) == v for k, v in properties.items())
    ]
    assert len(found) == 1, found
    return found[0]


def logical_id_of(template: dict[str, Any], type_name: str, **properties: Any) -> str:
    resource = one(template, type_name, **properties)
    return next(k for k, v in template["Resources"].items() if v is resource)


def configuration(template: dict[str, Any], name: str = "acme-alerts") -> dict[str, Any]:
    return one(template, TYPE, ConfigurationName=name)["Properties"]


# ----- topic -----


def test_topic_is_named_and_encrypted_with_the_key(template: dict[str, Any]) -> None:
    key = next(iter(resources_of_type(template, "AWS::KMS::Key")))
    topic = one(template, "AWS::SNS::Topic", TopicName="acme-notify-alerts")["Properties"]
    assert topic["KmsMasterKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
    assert topic["DisplayName"] == "Amazon Q Developer channel acme-alerts"
    assert "FifoTopic" not in topic  # Amazon Q subscribes standard topics


def test_topic_policy_denies_plain_http_and_admits_only_eventbridge_of_this_account(template: dict[str, Any]) -> None:
    topic = logical_id_of(template, "AWS::SNS::Topic", TopicName="acme-notify-alerts")
    policy = one(template, "AWS::SNS::TopicPolicy", Topics=[{"Ref": topic}])["Properties"]["PolicyDocument"]
    # The rule's SnsTopic target is in the stack: it added no statement of its own.
    assert policy["Statement"] == [
        {
            "Sid": "AllowPublishThroughSSLOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": {"Ref": topic},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "EventBridgeRulesOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": topic},
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        },
    ]


def test_rule_targets_the_topic_without_a_role(template: dict[str, Any]) -> None:
    topic = logical_id_of(template, "AWS::SNS::Topic", TopicName="acme-notify-alerts")
    (rule,) = resources_of_type(template, "AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": topic}
    assert "RoleArn" not in target  # EventBridge publishes to SNS on the topic policy, not a role


def test_key_policy_lets_eventbridge_use_the_key_for_each_topic_only(template: dict[str, Any]) -> None:
    (key,) = resources_of_type(template, "AWS::KMS::Key").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    eventbridge = [s for s in statements if s.get("Principal") == {"Service": "events.amazonaws.com"}]
    assert eventbridge == [
        {
            "Sid": f"EventBridgePublishesToAcmeNotify{channel}",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:EncryptionContext:aws:sns:topicArn": f"{TOPIC_ARN_PREFIX}:acme-notify-{channel.lower()}"
                }
            },
        }
        for channel in ("Alerts", "Releases")
    ]
    # No other principal than the account (the default key policy) and EventBridge: Amazon Q reads
    # nothing encrypted (SNS decrypts before it delivers).
    assert {json.dumps(s["Principal"], sort_keys=True) for s in statements} == {
        json.dumps({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        json.dumps({"Service": "events.amazonaws.com"}),
    }


def test_publish_grants_to_other_principals_are_kept() -> None:
    stack = bare_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    channel = AmazonQTeamsChannel(stack, "AmazonQ", **props(), key=key)
    dropped = channel.topic.grant_publish(iam.ServicePrincipal("events.amazonaws.com"))
    kept = channel.topic.grant_publish(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
    assert not dropped.success
    assert kept.success
    template = synthesized_json(stack)
    (policy,) = resources_of_type(template, "AWS::SNS::TopicPolicy").values()
    principals = [s["Principal"] for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    assert principals == ["*", {"Service": "events.amazonaws.com"}, {"Service": "cloudwatch.amazonaws.com"}]


# ----- role and guardrail -----


def test_role_is_trusted_only_by_amazon_q(template: dict[str, Any]) -> None:
    role = one(template, "AWS::IAM::Role", Description=_role_description("acme-alerts"))["Properties"]
    assert role["AssumeRolePolicyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "chatbot.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }


def test_role_holds_only_the_notifications_only_policy(template: dict[str, Any]) -> None:
    role = one(template, "AWS::IAM::Role", Description=_role_description("acme-alerts"))["Properties"]
    policy_id = _notifications_policy_id(template, "acme-alerts")
    assert role["ManagedPolicyArns"] == [{"Ref": policy_id}]
    assert "Policies" not in role
    # No inline policy anywhere in the stack attaches to it either.
    assert resources_of_type(template, "AWS::IAM::Policy") == {}
    document = template["Resources"][policy_id]["Properties"]["PolicyDocument"]
    assert document["Statement"] == [
        {
            "Sid": "NotificationPermissions",
            "Effect": "Allow",
            "Action": ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"],
            "Resource": "*",
        }
    ]


def test_each_channel_has_its_own_role_and_policy(template: dict[str, Any]) -> None:
    assert len(resources_of_type(template, "AWS::IAM::Role")) == 2
    assert len(resources_of_type(template, "AWS::IAM::ManagedPolicy")) == 2
    assert _notifications_policy_id(template, "acme-alerts") != _notifications_policy_id(template, "acme-releases")


# ----- channel configuration -----


def test_configuration_properties(template: dict[str, Any]) -> None:
    role = logical_id_of(template, "AWS::IAM::Role", Description=_role_description("acme-alerts"))
    topic = logical_id_of(template, "AWS::SNS::Topic", TopicName="acme-notify-alerts")
    assert configuration(template) == {
        "ConfigurationName": "acme-alerts",
        "TeamId": TEAM,
        "TeamsTenantId": TENANT,
        "TeamsChannelId": ENCODED_CHANNEL_ID,
        "IamRoleArn": {"Fn::GetAtt": [role, "Arn"]},
        "SnsTopicArns": [{"Ref": topic}],
        "GuardrailPolicies": [{"Ref": _notifications_policy_id(template, "acme-alerts")}],
        "UserRoleRequired": True,
        "LoggingLevel": "ERROR",
    }


def test_logging_level_is_the_one_given(template: dict[str, Any]) -> None:
    assert configuration(template, "acme-releases")["LoggingLevel"] == "INFO"


def test_configuration_arn_is_the_resources_arn_attribute() -> None:
    stack = bare_stack()
    channel = AmazonQTeamsChannel(stack, "AmazonQ", **props(), key=kms.Key(stack, "Key", enable_key_rotation=True))
    assert stack.resolve(channel.configuration_arn) == {
        "Fn::GetAtt": [stack.get_logical_id(channel.configuration), "Arn"]
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (CHANNEL_ID, ENCODED_CHANNEL_ID),
        (ENCODED_CHANNEL_ID, ENCODED_CHANNEL_ID),
        ("19%3Ab6ef35dc342d56ba5654e6fc6d25a071%40thread.tacv2", ENCODED_CHANNEL_ID),
        ("19:meeting_Ab-12@thread.skype", "19%3ameeting_Ab-12%40thread.skype"),
    ],
)
def test_channel_id_is_url_encoded_as_in_the_channel_link(given: str, expected: str) -> None:
    assert teams_channel_id(given) == expected


def test_the_checks_are_the_resource_schemas() -> None:
    """The patterns and limits checked here are the ones CloudFormation's provider schema publishes."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGION, TYPE).schema
    properties = schema["properties"]
    assert properties["ConfigurationName"]["pattern"] == CONFIGURATION_NAME_PATTERN.pattern
    assert properties["ConfigurationName"]["maxLength"] == CONFIGURATION_NAME_MAX_LENGTH
    assert properties["TeamId"]["pattern"] == properties["TeamsTenantId"]["pattern"] == GUID_PATTERN.pattern
    assert properties["LoggingLevel"]["pattern"] == "^(" + "|".join(LOGGING_LEVELS) + ")$"
    assert re.match(properties["TeamsChannelId"]["pattern"], ENCODED_CHANNEL_ID)
    assert not re.match(properties["TeamsChannelId"]["pattern"], CHANNEL_ID)  # why the id is URL-encoded
    assert set(schema["required"]) <= set(configuration_keys())


def configuration_keys() -> list[str]:
    stack = bare_stack()
    AmazonQTeamsChannel(stack, "AmazonQ", **props(), key=kms.Key(stack, "Key", enable_key_rotation=True))
    (resource,) = resources_of_type(synthesized_json(stack), TYPE).values()
    return list(resource["Properties"])


# ----- input checks -----

LONG_CHANNEL = "c" * (CONFIGURATION_NAME_MAX_LENGTH - len("acme-") + 1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"platform_name": "acme platform"},
            "AmazonQTeamsChannel: platform_name 'acme platform' cannot be part of a channel configuration name; "
            "allowed: letters, digits, '-' and '_' (at least one)",
        ),
        (
            {"channel": ""},
            "AmazonQTeamsChannel: channel '' cannot be part of a channel configuration name; "
            "allowed: letters, digits, '-' and '_' (at least one)",
        ),
        (
            {"channel": LONG_CHANNEL},
            f"AmazonQTeamsChannel: configuration name 'acme-{LONG_CHANNEL}' (platform_name-channel) is 129 "
            "characters; allowed: at most 128",
        ),
        (
            {"team_id": "my-team"},
            "AmazonQTeamsChannel: team_id 'my-team' is not a GUID; allowed: a Microsoft Teams team id, 36 "
            "characters, 8-4-4-4-12 hexadecimal digits (copy it from the Amazon Q Developer console or the "
            "channel link)",
        ),
        (
            {"tenant_id": TENANT + "0"},
            f"AmazonQTeamsChannel: tenant_id '{TENANT}0' is not a GUID; allowed: a Microsoft Entra tenant id, 36 "
            "characters, 8-4-4-4-12 hexadecimal digits (copy it from the Amazon Q Developer console or the "
            "channel link)",
        ),
        (
            {"channel_id": "b6ef35dc342d56ba5654e6fc6d25a071"},
            "AmazonQTeamsChannel: channel_id 'b6ef35dc342d56ba5654e6fc6d25a071' is not a Microsoft Teams channel "
            "id; allowed: 19:<id>@thread.tacv2 (or @thread.skype) as Teams shows it, or URL-encoded as in the "
            "channel link (19%3a<id>%40thread.tacv2), <id> of letters, digits, '-' and '_'",
        ),
        (
            {"channel_id": "https://teams.microsoft.com/l/channel/19%3aabc%40thread.tacv2/General"},
            "AmazonQTeamsChannel: channel_id 'https://teams.microsoft.com/l/channel/19%3aabc%40thread.tacv2/General' "
            "is not a Microsoft Teams channel id; allowed: 19:<id>@thread.tacv2 (or @thread.skype) as Teams shows "
            "it, or URL-encoded as in the channel link (19%3a<id>%40thread.tacv2), <id> of letters, digits, '-' "
            "and '_'",
        ),
        (
            {"channel_id": "19:" + "a" * 240 + "@thread.tacv2"},
            "AmazonQTeamsChannel: channel_id '19:" + "a" * 240 + "@thread.tacv2' is 260 characters URL-encoded; "
            "allowed: at most 255",
        ),
        (
            {"logging_level": "DEBUG"},
            "AmazonQTeamsChannel: logging_level 'DEBUG' is not a logging level; allowed: ERROR, INFO, NONE",
        ),
    ],
    ids=[
        "platform-name",
        "empty-channel",
        "name-too-long",
        "team-id",
        "tenant-id",
        "channel-id-bare",
        "channel-id-link",
        "channel-id-too-long",
        "logging-level",
    ],
)
def test_invalid_input_is_refused_with_the_field_the_value_and_what_is_allowed(
    overrides: dict[str, Any], message: str
) -> None:
    stack = bare_stack()
    key = kms.Key(stack, "Key", enable_key_rotation=True)
    with pytest.raises(ValueError) as raised:
        AmazonQTeamsChannel(stack, "AmazonQ", **props(**overrides), key=key)
    assert str(raised.value) == message
    assert stack.node.try_find_child("AmazonQ") is None  # refused before anything is added


def test_a_name_of_exactly_128_characters_is_accepted() -> None:
    stack = bare_stack()
    channel = "c" * (CONFIGURATION_NAME_MAX_LENGTH - len("acme-"))
    built = AmazonQTeamsChannel(
        stack, "AmazonQ", **props(channel=channel), key=kms.Key(stack, "Key", enable_key_rotation=True)
    )
    assert len(built.configuration.configuration_name) == CONFIGURATION_NAME_MAX_LENGTH
    (topic,) = resources_of_type(synthesized_json(stack), "AWS::SNS::Topic").values()
    assert len(topic["Properties"]["DisplayName"]) == 100  # SNS's limit


def test_an_imported_key_is_refused() -> None:
    stack = bare_stack()
    key = kms.Key.from_key_arn(
        stack, "Imported", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    with pytest.raises(ValueError) as raised:
        AmazonQTeamsChannel(stack, "AmazonQ", **props(), key=key)
    assert str(raised.value) == (
        f"AmazonQTeamsChannel: key '{STACK}/Imported' is imported, so its key policy cannot be changed here; "
        "allowed: a kms.Key of this app (EventBridge needs kms:GenerateDataKey* and kms:Decrypt on it for the "
        "topic acme-notify-alerts)"
    )


# ----- gates -----


def test_no_unacknowledged_cdk_nag_findings(synthesized: tuple[cdk.App, Path, dict[str, Any]]) -> None:
    app = synthesized[0]
    findings = nag_findings(app)
    assert findings == [], "unacknowledged cdk-nag findings:\n" + "\n".join(findings)


def test_the_acknowledged_findings_are_the_notification_permissions_wildcards(
    synthesized: tuple[cdk.App, Path, dict[str, Any]],
) -> None:
    acks = [(path, rule) for path, rule, _ in acknowledgements(synthesized[0]) if rule.startswith("AwsSolutions-")]
    assert sorted(acks) == sorted(
        (f"{STACK}/AmazonQ-{channel}/NotificationsOnly", f"AwsSolutions-IAM5[{finding}]")
        for channel in ("alerts", "releases")
        for finding in (
            "Action::cloudwatch:Describe*",
            "Action::cloudwatch:Get*",
            "Action::cloudwatch:List*",
            "Resource::*",
        )
    )


def test_template_passes_cfn_lint(synthesized: tuple[cdk.App, Path, dict[str, Any]]) -> None:
    outdir = synthesized[1]
    problems = lint_templates([outdir / f"{STACK}.template.json"])
    assert problems == [], "\n".join(problems)


# ----- helpers -----


def _role_description(configuration_name: str) -> str:
    return f"Amazon Q Developer channel {configuration_name}: delivers notifications, runs no commands"


def _notifications_policy_id(template: dict[str, Any], configuration_name: str) -> str:
    return logical_id_of(
        template,
        "AWS::IAM::ManagedPolicy",
        Description=f"Amazon Q Developer channel {configuration_name}: notifications only (role and guardrail)",
    )
