"""The delivery dashboard: one per platform, the same size for 3 services or 9, reading what the notifier logs."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import pytest

from cdk_constructs.delivery_dashboard import DEPLOYMENTS_QUERY, EXECUTIONS_QUERY, LEAD_TIME_QUERY, UNFINISHED_QUERY
from tests.platform_synth import REPO_ROOT, SynthesizedPlatform, resources_of_type

LOG_GROUP = "/aws/lambda/notifier"


def rendered(value: Any) -> str:
    """DashboardBody as CloudFormation would write it, the notifier's log group name for its Ref."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(rendered(p) for p in parts)
    if "Ref" in value:
        return LOG_GROUP
    raise AssertionError(f"unexpected intrinsic in the dashboard body: {value}")


def dashboard(platform: SynthesizedPlatform) -> tuple[str, dict[str, Any]]:
    raw = platform.template_json(f"{platform.config.name}-notifications")
    (resource,) = resources_of_type(raw, "AWS::CloudWatch::Dashboard").values()
    props = resource["Properties"]
    return props["DashboardName"], json.loads(rendered(props["DashboardBody"]))


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_one_dashboard_whose_size_does_not_grow_with_services(which: str, request: pytest.FixtureRequest) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(which)
    name, body = dashboard(platform)
    assert name == f"{platform.config.name}-delivery"
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,255}", name)  # PutDashboard's DashboardName
    widgets = body["widgets"]
    assert len(widgets) == 7
    expressions = [m[0]["expression"] for w in widgets if w["type"] == "metric" for m in w["properties"]["metrics"]]
    p = platform.config.name
    assert expressions == [
        f'SEARCH(\'{{AWS/CodePipeline,PipelineName}} MetricName="FailedPipelineExecutions" '
        f"PipelineName={p}', 'Sum', 3600)",
        f"SEARCH('{{AWS/CodeBuild,ProjectName}} MetricName=\"FailedBuilds\" ProjectName={p}', 'Sum', 3600)",
        f"SEARCH('{{AWS/CodeBuild,ProjectName}} MetricName=\"SucceededBuilds\" ProjectName={p}', 'Sum', 3600)",
        f"SEARCH('{{AWS/CodeBuild,ProjectName}} MetricName=\"Duration\" ProjectName={p}', 'Average', 3600)",
    ]
    queries = [w["properties"]["query"] for w in widgets if w["type"] == "log"]
    assert len(queries) == 4 and all(q.startswith(f"SOURCE '{LOG_GROUP}'") for q in queries)
    assert len(json.dumps(body)) < 1_000_000  # PutDashboard: a body of at most 1 MB


def test_the_dashboard_is_the_same_for_every_number_of_services(
    default_platform: SynthesizedPlatform, varied_platform: SynthesizedPlatform
) -> None:
    _, default = dashboard(default_platform)
    _, varied = dashboard(varied_platform)
    strip = re.compile(rf"\b({default_platform.config.name}|{varied_platform.config.name})\b")
    assert strip.sub("P", json.dumps(default)) == strip.sub("P", json.dumps(varied))


def test_the_queries_read_fields_the_notifier_logs() -> None:
    sys.path.insert(0, str(REPO_ROOT / "lambda" / "teams_notifier"))
    try:
        from notifier_events import classify, log_fields, parse_event
    finally:
        sys.path.pop(0)
    sample = json.loads(
        (REPO_ROOT / "tests/fixtures/aws-events/codepipeline-pipeline-execution-started.json").read_text()
    )
    event = parse_event(sample)
    fields = log_fields(event, classify(event, "-pr"), {str(sample["account"]): "dev"})
    assert fields["kind"] == "pipeline_started" and fields["environment"] == "dev"
    assert fields["pipeline"] == sample["detail"]["pipeline"]
    assert fields["execution_id"] == sample["detail"]["execution-id"]
    used = set()
    for query in (DEPLOYMENTS_QUERY, EXECUTIONS_QUERY, LEAD_TIME_QUERY, UNFINISHED_QUERY):
        text = " ".join(query)
        used |= {
            f for f in ("event_id", "kind", "environment", "pipeline", "execution_id") if re.search(rf"\b{f}\b", text)
        }
    assert used <= set(fields) | {"event_id"}
    assert "event_id" in fields
