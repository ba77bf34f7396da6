"""`AmazonQTeamsChannel`: a Microsoft Teams channel that Amazon Q Developer in chat applications posts to.

The third way a channel gets its notifications (beside the notifier function and the EventBridge
API destination): EventBridge rules publish to this construct's SNS topic and Amazon Q Developer
(formerly AWS Chatbot) posts what arrives there to one Teams channel through its own Teams app. No
webhook, no code, nothing to rotate.

One manual step comes first, once per Microsoft Teams tenant and team: an administrator of the
team configures the Microsoft Teams client in the Amazon Q Developer console (paste a channel link,
accept Microsoft's authorization page). Until then CloudFormation cannot create the channel
configuration for that team and tenant (the CloudFormation reference for
AWS::Chatbot::MicrosoftTeamsChannelConfiguration: "you must perform the initial authorization flow
with Microsoft Teams in the Amazon Q Developer in chat applications console").

What the channel may do is the least AWS documents for notifications only:

- the channel role is trusted by chatbot.amazonaws.com alone and holds one policy, the
  "Notification permissions" policy of the Amazon Q Developer console (AWS-Chatbot-NotificationsOnly-
  Policy: cloudwatch Describe*/Get*/List*, which AWS calls "the minimum usable IAM policy
  configuration" and requires for core functionality), created here as a customer managed policy;
- that same policy is the channel's only guardrail (without one AWS applies AdministratorAccess),
  so no channel member, whatever user role they bring, can do more than read CloudWatch;
- UserRoleRequired: members who would run commands must each choose a user role, itself bounded by
  the guardrail.

What Amazon Q shows: AWS's archived AWS Chatbot guide (2023) says it renders most EventBridge events
in their original form, but not CodeBuild, CodeCommit, CodeDeploy and CodePipeline events from
EventBridge rules (those go through Developer Tools notification rules), and that it drops events an
input transformer changed. Its current guide documents custom notifications instead: an input
transformer that writes {"version": "1.0", "source": "custom", "content": {...}} is posted as given.
Rules of the platform's pipeline, build and deployment events should publish that form here.

The topic is encrypted with the caller's customer managed key. SNS decrypts a message before it
delivers it, so Amazon Q needs no key permission; the publisher does: EventBridge gets
kms:GenerateDataKey* and kms:Decrypt on the key, only for this topic (the kms:EncryptionContext of
SNS), and sns:Publish on the topic, only for rules of this account (aws:SourceAccount).
`aws_events_targets.SnsTopic(channel.topic)` adds nothing to either policy (see `_EventBridgeTopic`).
"""

from __future__ import annotations

import re

from aws_cdk import Stack
from aws_cdk import aws_chatbot as chatbot
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from constructs import Construct

from cdk_constructs.nag import acknowledge_statement

EVENTS_PRINCIPAL = "events.amazonaws.com"
CHATBOT_PRINCIPAL = "chatbot.amazonaws.com"

# AWS::Chatbot::MicrosoftTeamsChannelConfiguration's resource provider schema (as cfn-lint ships it).
CONFIGURATION_NAME_PATTERN = re.compile(r"^[A-Za-z0-9-_]+$")
CONFIGURATION_NAME_MAX_LENGTH = 128
GUID_PATTERN = re.compile(r"^[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}$")
LOGGING_LEVELS = ("ERROR", "INFO", "NONE")
# The channel id as Teams shows it (URL-decoded, as config/model.py takes it) and as Amazon Q takes it:
# URL-encoded, as in a channel link ("19%3ab6ef35dc342d56ba5654e6fc6d25a071%40thread.tacv2" in the
# CloudFormation reference; the schema's pattern requires the %3a and %40). The API allows 255 characters.
TEAMS_CHANNEL_ID = re.compile(r"^19:(?P<id>[A-Za-z0-9_-]+)@thread\.(?P<kind>tacv2|skype)$")
TEAMS_CHANNEL_ID_ENCODED = re.compile(r"^19%3[aA](?P<id>[A-Za-z0-9_-]+)%40thread\.(?P<kind>tacv2|skype)$")
TEAMS_CHANNEL_ID_MAX_LENGTH = 255
TOPIC_DISPLAY_NAME_MAX_LENGTH = 100  # SNS

# The console's "Notification permissions" template (AWS-Chatbot-NotificationsOnly-Policy).
NOTIFICATION_ACTIONS = ["cloudwatch:Describe*", "cloudwatch:Get*", "cloudwatch:List*"]
NOTIFICATIONS_ONLY_REASON = (
    "The Amazon Q Developer console's Notification permissions policy (AWS-Chatbot-NotificationsOnly-Policy), "
    "which AWS documents as the minimum for notifications: CloudWatch reads for alarm details and charts; "
    "CloudWatch alarms and metrics have no resource-level scoping for Describe/List."
)


def teams_channel_id(channel_id: str) -> str:
    """The channel id in the form Amazon Q takes it: URL-encoded as in the channel link (19%3a...%40thread...)."""
    match = TEAMS_CHANNEL_ID.match(channel_id) or TEAMS_CHANNEL_ID_ENCODED.match(channel_id)
    if match is None:
        raise ValueError(
            f"AmazonQTeamsChannel: channel_id {channel_id!r} is not a Microsoft Teams channel id; allowed: "
            "19:<id>@thread.tacv2 (or @thread.skype) as Teams shows it, or URL-encoded as in the channel link "
            "(19%3a<id>%40thread.tacv2), <id> of letters, digits, '-' and '_'"
        )
    encoded = f"19%3a{match['id']}%40thread.{match['kind']}"
    if len(encoded) > TEAMS_CHANNEL_ID_MAX_LENGTH:
        raise ValueError(
            f"AmazonQTeamsChannel: channel_id {channel_id!r} is {len(encoded)} characters URL-encoded; "
            f"allowed: at most {TEAMS_CHANNEL_ID_MAX_LENGTH}"
        )
    return encoded


def _check_guid(field: str, value: str, what: str) -> None:
    if not GUID_PATTERN.match(value):
        raise ValueError(
            f"AmazonQTeamsChannel: {field} {value!r} is not a GUID; allowed: {what}, 36 characters, "
            "8-4-4-4-12 hexadecimal digits (copy it from the Amazon Q Developer console or the channel link)"
        )


def _check_name_part(field: str, value: str) -> None:
    if not value or not CONFIGURATION_NAME_PATTERN.match(value):
        raise ValueError(
            f"AmazonQTeamsChannel: {field} {value!r} cannot be part of a channel configuration name; "
            "allowed: letters, digits, '-' and '_' (at least one)"
        )


class _EventBridgeTopic(sns.Topic):
    """A topic whose publish grant to EventBridge is the one AmazonQTeamsChannel wrote, with its conditions.

    `aws_events_targets.SnsTopic` calls `grant_publish(ServicePrincipal("events.amazonaws.com"))`, which
    would add an unconditioned sns:Publish statement to the topic policy and an unconditioned
    kms:Decrypt / kms:GenerateDataKey* statement to the key policy. EventBridge already has both here,
    scoped to this account's rules and to this topic, so that grant adds nothing; every other grantee
    is granted as usual.
    """

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        if isinstance(grantee, iam.ServicePrincipal) and grantee.service == EVENTS_PRINCIPAL:
            return iam.Grant.drop(grantee, "sns:Publish for EventBridge, granted by AmazonQTeamsChannel")
        return super().grant_publish(grantee)


class AmazonQTeamsChannel(Construct):
    """One Teams channel of Amazon Q Developer in chat applications: `topic`, `role`, `configuration`.

    Point EventBridge rules at `topic` (`aws_events_targets.SnsTopic(channel.topic)`); Amazon Q posts
    what they publish to the channel `channel_id` of the team `team_id` in the tenant `tenant_id`.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        platform_name: str,
        channel: str,
        team_id: str,
        channel_id: str,
        tenant_id: str,
        key: kms.IKey,
        logging_level: str = "ERROR",
    ) -> None:
        _check_name_part("platform_name", platform_name)
        _check_name_part("channel", channel)
        configuration_name = f"{platform_name}-{channel}"
        if len(configuration_name) > CONFIGURATION_NAME_MAX_LENGTH:
            raise ValueError(
                f"AmazonQTeamsChannel: configuration name {configuration_name!r} (platform_name-channel) is "
                f"{len(configuration_name)} characters; allowed: at most {CONFIGURATION_NAME_MAX_LENGTH}"
            )
        _check_guid("team_id", team_id, "a Microsoft Teams team id")
        _check_guid("tenant_id", tenant_id, "a Microsoft Entra tenant id")
        encoded_channel_id = teams_channel_id(channel_id)
        if logging_level not in LOGGING_LEVELS:
            raise ValueError(
                f"AmazonQTeamsChannel: logging_level {logging_level!r} is not a logging level; "
                f"allowed: {', '.join(LOGGING_LEVELS)}"
            )
        super().__init__(scope, id_)
        stack = Stack.of(self)
        topic_name = f"{platform_name}-notify-{channel}"
        # The topic's ARN from its name: a Ref in the key policy would make the key depend on the topic
        # that is encrypted with it (a dependency cycle).
        topic_arn = stack.format_arn(service="sns", resource=topic_name)

        self.topic: sns.Topic = _EventBridgeTopic(
            self,
            "Topic",
            topic_name=topic_name,
            display_name=f"Amazon Q Developer channel {configuration_name}"[:TOPIC_DISPLAY_NAME_MAX_LENGTH],
            master_key=key,
            enforce_ssl=True,
        )
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeRulesOfThisAccount",
                principals=[iam.ServicePrincipal(EVENTS_PRINCIPAL)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            )
        )
        added = key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=f"EventBridgePublishesTo{_pascal(topic_name)}",
                principals=[iam.ServicePrincipal(EVENTS_PRINCIPAL)],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" is the key itself
                conditions={"StringEquals": {"kms:EncryptionContext:aws:sns:topicArn": topic_arn}},
            ),
            allow_no_op=True,
        )
        if not added.statement_added:
            raise ValueError(
                f"AmazonQTeamsChannel: key {key.node.path!r} is imported, so its key policy cannot be changed "
                "here; allowed: a kms.Key of this app (EventBridge needs kms:GenerateDataKey* and kms:Decrypt "
                f"on it for the topic {topic_name})"
            )

        self.notifications_policy = iam.ManagedPolicy(
            self,
            "NotificationsOnly",
            description=f"Amazon Q Developer channel {configuration_name}: notifications only (role and guardrail)",
            statements=[
                iam.PolicyStatement(sid="NotificationPermissions", actions=NOTIFICATION_ACTIONS, resources=["*"])
            ],
        )
        acknowledge_statement(self.notifications_policy, NOTIFICATION_ACTIONS, ["*"], NOTIFICATIONS_ONLY_REASON)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(CHATBOT_PRINCIPAL),
            description=f"Amazon Q Developer channel {configuration_name}: delivers notifications, runs no commands",
            managed_policies=[self.notifications_policy],
        )

        self.configuration = chatbot.CfnMicrosoftTeamsChannelConfiguration(
            self,
            "Configuration",
            configuration_name=configuration_name,
            team_id=team_id,
            teams_channel_id=encoded_channel_id,
            teams_tenant_id=tenant_id,
            iam_role_arn=self.role.role_arn,
            sns_topic_arns=[self.topic.topic_arn],
            guardrail_policies=[self.notifications_policy.managed_policy_arn],
            user_role_required=True,
            logging_level=logging_level,
        )

    @property
    def configuration_arn(self) -> str:
        return str(self.configuration.attr_arn)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)
