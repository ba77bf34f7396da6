"""NotificationsStack: rules per event kind, their scope, targets, secrets, and the EventBridge-built card."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

from cdk_constructs.notification_patterns import WATCHER_SOURCE, event_patterns, simple_card_input
from config.model import EVENT_KINDS
from config.names import Names
from tests.platform_synth import SynthesizedPlatform, resources_of_type
from tools.preflight.policy import Request, evaluate
from tools.preflight.template import Assembly

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EVENTS = FIXTURES / "aws-events"
SCHEMA = json.loads((FIXTURES / "schemas" / "adaptive-card-1.5.json").read_text())
TOOLING, PROD = "111111111111", "333333333333"

# Every EventBridge sample (real, and derived where AWS publishes none) and the kind it is.
EXPECTED_KIND: dict[str, str | None] = {
    "codepipeline-pipeline-execution-started.json": "pipeline_started",
    "codepipeline-pipeline-execution-succeeded.json": "pipeline_succeeded",
    "codepipeline-pipeline-execution-failed.json": "pipeline_failed",
    "codepipeline-stage-execution-started.json": None,
    "codepipeline-action-execution-started.json": None,  # a deploy action, not an approval
    "codepipeline-action-execution-succeeded.json": None,
    "codepipeline-action-execution-failed.json": None,
    "codebuild-build-state-succeeded.json": "build_succeeded",
    "codebuild-build-phase-completed.json": None,
    "codedeploy-deployment-success.json": "deployment_succeeded",
    "codedeploy-instance-success.json": None,
    "codecommit-pr-created.json": "pull_request_created",
    "codecommit-pr-source-branch-updated.json": "pull_request_updated",
    "codecommit-pr-status-changed.json": None,  # closed, not merged
    "codecommit-repo-reference-updated.json": None,
    "derived/notifier-codepipeline-pipeline-execution-canceled.json": "pipeline_canceled",
    "derived/notifier-codepipeline-pipeline-execution-superseded.json": "pipeline_superseded",
    "derived/notifier-codepipeline-stage-execution-failed.json": "stage_failed",
    "derived/notifier-pipeline-watcher-execution-stuck.json": "pipeline_stuck",
    "derived/notifier-codepipeline-approval-started.json": "approval_waiting",
    "derived/notifier-codepipeline-approval-succeeded.json": "approval_approved",
    "derived/notifier-codepipeline-approval-failed.json": "approval_rejected",
    "derived/notifier-codebuild-build-state-failed.json": "build_failed",
    "derived/notifier-codebuild-build-state-in-progress.json": None,
    "derived/notifier-codebuild-pr-build-state-failed.json": "pull_request_build_failed",
    "derived/notifier-codebuild-pr-build-state-succeeded.json": "pull_request_build_succeeded",
    "derived/notifier-codedeploy-deployment-start.json": "deployment_started",
    "derived/notifier-codedeploy-deployment-failure.json": "deployment_failed",
    "derived/notifier-codedeploy-deployment-stop.json": "deployment_stopped",
    "derived/notifier-codecommit-pr-merge-status-updated.json": "pull_request_merged",
    "derived/notifier-codecommit-pr-status-changed-merged.json": "pull_request_merged",
}


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / name).read_text()))


def adopt(event: dict[str, Any]) -> dict[str, Any]:
    """The same event, about the platform's own resources (service `orders`, deployed to prod)."""
    event = copy.deepcopy(event)
    detail = event["detail"]
    region = event["region"] = "eu-west-1"
    event["account"] = TOOLING
    source = event["source"]
    if source in ("aws.codepipeline", WATCHER_SOURCE):
        detail["pipeline"] = "acme-orders"
        event["resources"] = [f"arn:aws:codepipeline:{region}:{TOOLING}:acme-orders"]
    elif source == "aws.codebuild":
        kind = "pr" if detail["project-name"].endswith("-pr") else "build"
        detail["project-name"] = f"acme-orders-{kind}"
    elif source == "aws.codedeploy":
        event["account"] = PROD  # forwarded from the target account
        detail["application"] = detail["deploymentGroup"] = "acme-prod-orders"
    elif source == "aws.codecommit":
        event["resources"] = [f"arn:aws:codecommit:{region}:{TOOLING}:acme-orders"]
        detail["repositoryNames"] = ["acme-orders"]
    return event


@pytest.fixture(scope="module")
def patterns(default_platform: SynthesizedPlatform) -> dict[str, dict[str, Any]]:
    """The patterns as deployed: read back from the synthesized rules, by kind."""
    raw = default_platform.template_json("acme-notifications")
    found = {}
    for rule in resources_of_type(raw, "AWS::Events::Rule").values():
        name = rule["Properties"]["Name"]
        if name.startswith("acme-notify-"):  # not the pipeline watcher's schedule
            found[name.removeprefix("acme-notify-")] = rule["Properties"]["EventPattern"]
    return found


def test_every_sample_event_has_an_expected_kind() -> None:
    on_disk = {str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json")}
    lambda_payloads = {"codepipeline-job-lambda.json", "codedeploy-lifecycle-hook.json"}
    eventbridge = {n for n in on_disk if not n.startswith("derived/") or n.startswith("derived/notifier-")}
    assert eventbridge - lambda_payloads == set(EXPECTED_KIND)


def test_one_rule_per_routed_kind(default_platform: SynthesizedPlatform, patterns: dict[str, Any]) -> None:
    assert sorted(patterns) == sorted(default_platform.config.notifications.selected_kinds())
    assert set(patterns) <= set(EVENT_KINDS)
    assert patterns == {k: v for k, v in event_patterns(Names(default_platform.config)).items() if k in patterns}


@pytest.mark.parametrize("sample", sorted(EXPECTED_KIND))
def test_each_rule_matches_exactly_the_samples_of_its_kind(sample: str) -> None:
    every_pattern = event_patterns(_names())
    event = adopt(load(sample))
    matched = [
        kind for kind, pattern in every_pattern.items() if EventPattern.load(json.dumps(pattern)).matches_event(event)
    ]
    expected = EXPECTED_KIND[sample]
    assert matched == ([expected] if expected else [])


@pytest.mark.parametrize("sample", sorted(k for k, v in EXPECTED_KIND.items() if v))
def test_rules_ignore_resources_outside_the_platform(sample: str) -> None:
    """The unmodified samples name other pipelines, projects and repositories: no rule may match."""
    event = load(sample)
    event["account"] = str(event["account"])
    for kind, pattern in event_patterns(_names()).items():
        assert not EventPattern.load(json.dumps(pattern)).matches_event(event), kind


def _names() -> Names:
    from config import load_config

    return Names(load_config())


@mock_aws
def test_a_rule_routes_a_real_event_through_eventbridge(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through moto's EventBridge: PutEvents with the rule installed reaches the target."""
    for key, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "MOTO_ACCOUNT_ID": TOOLING}.items():
        monkeypatch.setenv(key, value)
    events = boto3.client("events", region_name="eu-west-1")
    sqs = boto3.client("sqs", region_name="eu-west-1")
    queue = sqs.create_queue(QueueName="probe")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = event_patterns(_names())["deployment_failed"]
    events.put_rule(Name="probe", EventPattern=json.dumps(pattern))
    events.put_targets(Rule="probe", Targets=[{"Id": "q", "Arn": arn}])
    failed = adopt(load("derived/notifier-codedeploy-deployment-failure.json"))
    succeeded = adopt(load("codedeploy-deployment-success.json"))
    for event in (failed, succeeded):
        events.put_events(
            Entries=[
                {"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}
            ]
        )
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["detail"]["state"] for m in messages] == ["FAILURE"]


def test_rule_targets_retry_and_dead_letter(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-notifications")
    queues = resources_of_type(raw, "AWS::SQS::Queue")
    (undelivered,) = [k for k in queues if k.startswith("UndeliveredEvents")]
    for rule in resources_of_type(raw, "AWS::Events::Rule").values():
        if not rule["Properties"]["Name"].startswith("acme-notify-"):
            continue  # the pipeline watcher's schedule: tests/unit/test_pipeline_watcher_stack.py
        for target in rule["Properties"]["Targets"]:
            assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 21600, "MaximumRetryAttempts": 8}
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [undelivered, "Arn"]}}


def test_each_lambda_channel_has_a_fifo_queue_drained_in_order_with_a_dead_letter_queue(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-notifications")
    queues = {
        q["Properties"].get("QueueName"): (k, q["Properties"])
        for k, q in resources_of_type(raw, "AWS::SQS::Queue").items()
    }
    mappings = [m["Properties"] for m in resources_of_type(raw, "AWS::Lambda::EventSourceMapping").values()]
    assert len(mappings) == 2  # releases and alerts; announcements is an API destination
    for channel in ("releases", "alerts"):
        key, queue = queues[f"acme-notify-{channel}.fifo"]
        dead_key, dead = queues[f"acme-notify-{channel}-dlq.fifo"]
        assert queue["FifoQueue"] is True and queue["ContentBasedDeduplication"] is True
        assert dead["FifoQueue"] is True and dead["MessageRetentionPeriod"] == 14 * 86400
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [dead_key, "Arn"]},
            "maxReceiveCount": 5,
        }
        # AWS: a queue's visibility timeout at least six times the function's timeout.
        assert queue["VisibilityTimeout"] == 6 * 120
        (mapping,) = [m for m in mappings if m["EventSourceArn"] == {"Fn::GetAtt": [key, "Arn"]}]
        assert mapping["BatchSize"] == 10 and mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # Every rule that routes the channel puts the event in the channel's one message group.
        for rule in resources_of_type(raw, "AWS::Events::Rule").values():
            for target in rule["Properties"]["Targets"]:
                if target["Arn"] == {"Fn::GetAtt": [key, "Arn"]}:
                    assert target["SqsParameters"] == {"MessageGroupId": channel}
    alarms = {
        a["Properties"]["AlarmName"]: a["Properties"] for a in resources_of_type(raw, "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        "acme-notifications-UndeliveredEvents",
        "acme-notifications-errors",
        "acme-notifications-releases-dead-letters",
        "acme-notifications-releases-backlog",
        "acme-notifications-alerts-dead-letters",
        "acme-notifications-alerts-backlog",
        "acme-notifications-WatcherFailures",
    }
    assert alarms["acme-notifications-errors"]["MetricName"] == "Errors"
    assert alarms["acme-notifications-alerts-backlog"]["MetricName"] == "ApproximateAgeOfOldestMessage"
    for name in ("acme-notifications-UndeliveredEvents", "acme-notifications-alerts-dead-letters"):
        assert alarms[name]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    invoke_configs = [
        c["Properties"]["FunctionName"] for c in resources_of_type(raw, "AWS::Lambda::EventInvokeConfig").values()
    ]
    assert all("Watcher" in json.dumps(name) for name in invoke_configs)  # nothing invokes the notifier asynchronously


def test_every_queue_policy_grants_eventbridge_once_for_all_notification_rules(
    default_platform: SynthesizedPlatform,
) -> None:
    """SQS policies hold at most 20 statements: one statement per queue covers every rule."""
    raw = default_platform.template_json("acme-notifications")
    for policy in resources_of_type(raw, "AWS::SQS::QueuePolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert len(statements) <= 2
        for statement in statements:
            if statement["Effect"] == "Allow":
                assert statement["Principal"] == {"Service": "events.amazonaws.com"}
                if "ArnEquals" in statement["Condition"]:  # the watcher's failures: its schedule rule only
                    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0].startswith(
                        "PipelineWatcherSchedule"
                    )
                    continue
                assert statement["Condition"]["ArnLike"] == {
                    "aws:SourceArn": f"arn:aws:events:eu-west-1:{TOOLING}:rule/acme-notify-*"
                }
                assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": TOOLING}


def test_notifier_runs_newest_python_on_arm_with_routes_but_no_urls(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-notifications")
    (function,) = [
        f
        for f in resources_of_type(raw, "AWS::Lambda::Function").values()
        if f["Properties"].get("Handler") == "notifier.handler"
    ]
    props = function["Properties"]
    assert props["Runtime"] == "python3.14" and props["Architectures"] == ["arm64"]
    assert props["Timeout"] == 120
    variables = props["Environment"]["Variables"]
    routes = json.loads(variables["ROUTES"])
    assert routes["deployment_failed"] == ["alerts", "releases"]
    assert "announcements" not in json.dumps(routes)  # delivered by its API destination, not the function
    assert set(json.loads(variables["FALLBACK_CHANNELS"])) == {"alerts", "releases"}
    assert json.loads(variables["ENVIRONMENTS"]) == {TOOLING: "tooling", "222222222222": "dev", PROD: "prod"}
    assert "CHANNEL_SECRETS" in variables and "https" not in json.dumps(variables)


def test_function_reads_exactly_the_secrets_of_its_channels(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-notifications")
    secrets = {r["Properties"].get("Name"): k for k, r in resources_of_type(raw, "AWS::SecretsManager::Secret").items()}
    notifier_policies = [
        p
        for p in resources_of_type(raw, "AWS::IAM::Policy").values()
        if any("Notifier" in r["Ref"] for r in p["Properties"]["Roles"])
    ]
    granted = sorted(
        json.dumps(resource)
        for p in notifier_policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in s["Action"]
        for resource in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    )
    # not the announcements channel (delivered by EventBridge)
    assert granted == sorted(json.dumps({"Ref": secrets[f"acme/teams/{c}"]}) for c in ("alerts", "releases"))


def test_no_webhook_url_in_any_template(default_platform: SynthesizedPlatform) -> None:
    webhook = re.compile(r"https://[^\"']*(webhook|logic\.azure\.com|powerplatform|powerautomate|workflows)", re.I)
    for path in default_platform.template_files():
        assert not webhook.search(path.read_text()), path.name
        # Nothing resolves a secret at deploy time: its value would be read once and never again.
        assert "{{resolve:secretsmanager" not in path.read_text(), path.name


def test_api_destination_channels_are_kept_on_their_secret_by_the_destinations_function(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-notifications")
    assert not resources_of_type(raw, "AWS::Events::ApiDestination")
    assert not resources_of_type(raw, "AWS::Events::Connection")
    secrets = {r["Properties"]["Name"]: k for k, r in resources_of_type(raw, "AWS::SecretsManager::Secret").items()}
    assert set(secrets) == {"acme/teams/releases", "acme/teams/alerts", "acme/teams/announcements"}
    for secret in resources_of_type(raw, "AWS::SecretsManager::Secret").values():
        assert secret["Properties"]["SecretString"] == '{"url": ""}'  # a placeholder: no URL yet
    (destination,) = resources_of_type(raw, "Custom::TeamsApiDestination").values()
    props = destination["Properties"]
    assert props["Channel"] == "announcements" and props["Name"] == "acme-teams-announcements"
    assert props["SecretId"] == {"Ref": secrets["acme/teams/announcements"]}
    functions = {
        f["Properties"].get("FunctionName"): f for f in resources_of_type(raw, "AWS::Lambda::Function").values()
    }
    worker = functions["acme-notifications-teams-destinations"]["Properties"]
    assert worker["Handler"] == "teams_destinations.handler"
    channels = json.dumps(worker["Environment"]["Variables"]["CHANNELS"])  # joined with the secret's ARN
    assert "acme-teams-announcements" in channels and "releases" not in channels
    (rule,) = [
        r
        for r in resources_of_type(raw, "AWS::Events::Rule").values()
        if r["Properties"]["Name"] == "acme-notify-pipeline_succeeded"
    ]
    (target,) = [t for t in rule["Properties"]["Targets"] if "InputTransformer" in t]
    assert target["Arn"] == {"Fn::GetAtt": [next(iter(resources_of_type(raw, "Custom::TeamsApiDestination"))), "Arn"]}


def test_the_destinations_function_may_do_exactly_what_it_calls(default_platform: SynthesizedPlatform) -> None:
    """Its role's policies, evaluated as IAM would for each call the handler makes (see its tests)."""
    stack = Assembly(default_platform.outdir).stacks["acme-notifications"]
    (role_id,) = [
        k
        for k, r in stack.resources.items()
        if r["Type"] == "AWS::IAM::Role" and k.startswith("TeamsApiDestinationsProviderFunctionRole")
    ]
    documents = [
        stack.resolve(r["Properties"]["PolicyDocument"])
        for r in stack.resources.values()
        if r["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in r["Properties"]["Roles"]
    ]
    secret_arn = stack.ref_value(
        next(k for k, r in stack.resources.items() if r["Properties"].get("Name") == "acme/teams/announcements")
    )
    events = f"arn:aws:events:eu-west-1:{TOOLING}"
    connection_secret = (
        f"arn:aws:secretsmanager:eu-west-1:{TOOLING}:secret:events!connection/acme-teams-announcements/x"
    )
    calls = [
        ("secretsmanager:GetSecretValue", secret_arn),
        *((f"events:{verb}Connection", f"{events}:connection/acme-teams-announcements") for verb in CRUD),
        *((f"events:{verb}ApiDestination", f"{events}:api-destination/acme-teams-announcements") for verb in CRUD),
        *((f"secretsmanager:{a}", connection_secret) for a in ("CreateSecret", "PutSecretValue", "DeleteSecret")),
    ]
    denied = [(a, r) for a, r in calls if not evaluate(documents, Request(a, r)).allowed]
    assert denied == []
    # ... and nothing of another channel or another secret.
    assert not evaluate(documents, Request("events:DeleteConnection", f"{events}:connection/someone-else")).allowed
    other = f"arn:aws:secretsmanager:eu-west-1:{TOOLING}:secret:acme/teams/releases-AbCdEf"
    assert not evaluate(documents, Request("secretsmanager:GetSecretValue", other)).allowed


CRUD = ("Create", "Describe", "Update", "Delete")


def render(transformer: dict[str, Any], event: dict[str, Any]) -> Any:
    """What EventBridge posts: each <placeholder> filled from its JSON path (dot notation).

    Inside a longer string the value's text is inserted; a placeholder that is a whole JSON
    value gets the value as JSON (strings quoted), as EventBridge does.
    """
    text = transformer["InputTemplate"]
    for key, path in transformer["InputPathsMap"].items():
        node: Any = event
        for part in path.removeprefix("$.").split("."):
            node = node.get(part) if isinstance(node, dict) else None
        text = _fill(text, f"<{key}>", node)
    return json.loads(text)


def _fill(text: str, placeholder: str, value: Any) -> str:
    out, start = [], 0
    while (found := text.find(placeholder, start)) >= 0:
        out.append(text[start:found])
        inside_string = text[:found].count('"') % 2 == 1
        out.append(str(value).replace('"', '\\"') if inside_string else json.dumps(value))
        start = found + len(placeholder)
    out.append(text[start:])
    return "".join(out)


@pytest.mark.parametrize(
    "sample",
    sorted(k for k, v in EXPECTED_KIND.items() if v),
)
def test_eventbridge_built_cards_validate_against_the_adaptive_card_schema(sample: str) -> None:
    event = adopt(load(sample))
    paths, template = simple_card_input(event["detail-type"])
    envelope = render({"InputPathsMap": paths, "InputTemplate": json.dumps(template)}, event)
    assert envelope["type"] == "message"
    (attachment,) = envelope["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    errors = sorted(jsonschema.Draft6Validator(SCHEMA).iter_errors(card), key=str)
    assert not errors, errors[0].message
    title = card["body"][0]["text"]
    name = {
        "aws.codepipeline": "acme-orders",
        WATCHER_SOURCE: "acme-orders",
        "aws.codebuild": "acme-orders-",
        "aws.codedeploy": "acme-prod-orders",
        "aws.codecommit": event["detail"].get("title", ""),
    }[event["source"]]
    assert name in title


def test_synthesized_transformer_is_the_one_tested(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-notifications")
    (rule,) = [
        r
        for r in resources_of_type(raw, "AWS::Events::Rule").values()
        if r["Properties"]["Name"] == "acme-notify-pipeline_succeeded"
    ]
    (transformer,) = [t["InputTransformer"] for t in rule["Properties"]["Targets"] if "InputTransformer" in t]
    event = adopt(load("codepipeline-pipeline-execution-succeeded.json"))
    card = render(transformer, event)["attachments"][0]["content"]
    assert not list(jsonschema.Draft6Validator(SCHEMA).iter_errors(card))
    assert card["body"][0]["text"] == "Pipeline acme-orders: SUCCEEDED"
    assert card["actions"][0]["url"].startswith(
        "https://eu-west-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/acme-orders/executions/"
    )
