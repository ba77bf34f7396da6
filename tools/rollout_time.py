"""A model of how long the platform pipeline takes to roll a platform out (issue 20), against a plain
sequential `cdk deploy --all`.

    python -m tools.rollout_time            # rewrites the rollout section of docs/performance.md
    python -m tools.rollout_time --print    # prints it

The model walks the pipeline's own plan (cdk_constructs/platform_waves.py, the grouping of
cdk_constructs/platform_pipeline.py): a run order takes as long as its slowest stack plus CodePipeline's
per-action overhead, a stage the sum of its run orders, the rollout the sum of its stages, plus the
build, the self-update and the asset publishing. Review stages count the change-set preview only: the
time a person takes to approve is not the pipeline's. `cdk deploy --all` deploys one stack after the
other (the CLI's default `--concurrency 1`), each with its assets.

The per-stack durations are assumptions, each with the published figure it rests on, or "assumed" where
AWS publishes none; they are inputs to change, not measurements (nothing here deploys).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cdk_constructs.platform_pipeline import MAX_DEPLOY_ACTIONS, RolloutStack
from cdk_constructs.platform_waves import StackNode, actions_of, plan, wave_order
from config.model import PlatformConfig
from config.names import Names

REPO_ROOT = Path(__file__).resolve().parent.parent
DOC = REPO_ROOT / "docs" / "performance.md"
START, END = "<!-- rollout-time:start -->", "<!-- rollout-time:end -->"


@dataclass(frozen=True)
class Kind:
    """A kind of stack: minutes to create it, to update it when it changed, and the basis."""

    create: float
    update: float
    basis: str


KINDS = {
    "cross-account": Kind(
        2.0,
        1.0,
        "IAM roles and one rule; IAM is eventually consistent and the Terraform AWS provider waits up to 2 minutes "
        "for it (hashicorp/terraform-provider-aws, internal/service/iam/wait.go, propagationTimeout)",
    ),
    "tooling": Kind(3.0, 1.5, "event buses, roles, one Lambda function; assumed"),
    "codeartifact": Kind(1.5, 0.5, "a domain and a few repositories; assumed"),
    "notifications": Kind(4.0, 2.0, "functions, FIFO queues, a DynamoDB table, rules, secrets; assumed"),
    "foundation": Kind(
        9.0,
        2.0,
        "a VPC with a NAT gateway (\u201cup to 5 min\u201d for a NAT gateway to become available, kubernetes/kops#944) "
        "and an Application Load Balancer (botocore's LoadBalancerAvailable waiter allows 10 minutes; AWS publishes "
        "no typical time); with an existing VPC, as at scale, the ALB alone",
    ),
    "service-ecs": Kind(
        6.0,
        4.0,
        "a Fargate service is stable when its targets are healthy: 5 checks 30 s apart, 150 s at the ALB defaults "
        "(Amazon ECS developer guide, load balancer health checks), after the task starts",
    ),
    "service-ec2": Kind(6.0, 2.0, "an Auto Scaling group whose instances pass the same ALB health checks; assumed"),
    "service-lambda": Kind(1.5, 1.0, "a function, its alias and CodeDeploy group; assumed"),
    "pipeline": Kind(2.5, 1.0, "a repository, CodeBuild projects, a pipeline, roles; assumed"),
    "pull-requests": Kind(2.0, 1.0, "a function, rules and approval rule templates; assumed"),
}
# An unchanged stack: CloudFormation answers "No updates are to be performed" (assumed, seconds).
UNCHANGED = 0.3
# CodePipeline's own time per action: start, polling, the next run order (assumed; no published figure).
ACTION_OVERHEAD = 0.5
# The build: a clean install, then `make test` (228.7 s measured on this machine's 2 cores for the full
# suite, tests/ passing) and the synth; CodeBuild's MEDIUM host has 4 vCPUs (assumed no faster).
BUILD_MINUTES = 3.0 + 228.7 / 60 + 0.5
# Asset publishing per account: install the CLI, upload what changed (assumed).
ASSETS_MINUTES = 2.0
# The review previews one change set per stack, 10 at a time (tools/platform_rollout.py), ~30 s each (assumed).
PREVIEW_MINUTES, PREVIEW_PARALLEL = 0.5, 10
# `cdk deploy` publishes each stack's assets before its deploy (assumed).
CLI_ASSETS_PER_STACK = 0.2


def rollout_nodes(config: PlatformConfig) -> list[tuple[StackNode, str]]:
    """Every stack the platform pipeline deploys, with its dependencies and its kind, from the config alone
    (the same graph PlatformStacks.rollout_nodes gives after a synth; tests/unit/test_rollout_time.py)."""
    names = Names(config)
    nodes: list[tuple[StackNode, str]] = []
    for env in config.environments:
        nodes.append((StackNode(names.cross_account_stack(env), "cross-account"), "cross-account"))
    for name, kind in (
        (names.tooling_stack, "tooling"),
        (names.codeartifact_stack, "codeartifact"),
        (names.notifications_stack, "notifications"),
    ):
        nodes.append((StackNode(name, "tooling"), kind))
    for env in config.environments:
        if not config.services_in(env):
            continue
        cross = names.cross_account_stack(env)
        foundation = names.foundation_stack(env)
        nodes.append((StackNode(foundation, f"env-{env.name}", frozenset({cross})), "foundation"))
        for service in config.services_in(env):
            needs = frozenset({foundation, cross})
            node = StackNode(names.service_stack(service, env), f"env-{env.name}", needs)
            nodes.append((node, f"service-{service.platform}"))
    tooling = frozenset({names.tooling_stack, names.codeartifact_stack})
    for service in config.services:
        needs = tooling | {names.cross_account_stack(e) for e in config.environments_of(service)}
        needs |= {names.service_stack(service, e) for e in config.environments_of(service)}
        nodes.append((StackNode(names.pipeline_stack(service), "pipelines", frozenset(needs)), "pipeline"))
    validated = [s for s in config.services if s.pull_request_validation]
    if validated or config.platform_pipeline.enabled:
        needs = frozenset(names.pipeline_stack(s) for s in validated)
        nodes.append((StackNode(names.pull_request_stack, "pull-requests", needs), "pull-requests"))
    return nodes


def rollout_stacks(config: PlatformConfig) -> list[RolloutStack]:
    """rollout_nodes as the platform pipeline takes them, placed in their accounts (no synth needed)."""
    by_env = {e.name: e for e in config.environments}
    placed = []
    for node, _ in rollout_nodes(config):
        env = _environment_of(node, config)
        account = by_env[env].account if env else config.tooling.account
        region = config.region_of(by_env[env]) if env else config.tooling.region
        placed.append(RolloutStack(node, account, region, env, f"{node.name}.template.json"))
    return placed


@dataclass(frozen=True)
class Estimate:
    stacks: int
    stages: int
    actions: int
    pipeline_minutes: float
    sequential_minutes: float
    reviews: int


def estimate(config: PlatformConfig, scenario: str) -> Estimate:
    """Minutes for `scenario`: "create" (a first rollout), "update" (every stack changed), "one-service"
    (one service's stacks changed, every other stack unchanged)."""
    placed = rollout_nodes(config)
    kinds = {n.name: k for n, k in placed}
    settings = config.platform_pipeline
    per_action = max(1, math.ceil(len(placed) / MAX_DEPLOY_ACTIONS))
    stages = plan(
        (n for n, _ in placed),
        wave_order([e.name for e in config.environments]),
        concurrency=settings.concurrency,
        stacks_per_action=per_action,
    )
    changed = _changed(config, placed, scenario)

    def minutes(name: str) -> float:
        if name not in changed:
            return UNCHANGED
        kind = KINDS[kinds[name]]
        return kind.create if scenario == "create" else kind.update

    approvals = {e.name for e in config.environments if e.approval}
    environments = {n.name: _environment_of(n, config) for n, _ in placed}
    reviewed = {s.wave for s in stages if any(environments[n] in approvals for n in s.stacks)}
    total = BUILD_MINUTES + (KINDS["pipeline"].update if scenario != "one-service" else UNCHANGED) + ASSETS_MINUTES
    for wave in reviewed:
        count = sum(len(s.stacks) for s in stages if s.wave == wave)
        total += math.ceil(count / PREVIEW_PARALLEL) * PREVIEW_MINUTES + ACTION_OVERHEAD
    actions = 0
    for stage in stages:
        for batch in stage.run_orders:
            groups = actions_of(batch, per_action)
            actions += len(groups)
            total += max(max(minutes(n) for n in group) for group in groups) + ACTION_OVERHEAD
    total += ACTION_OVERHEAD  # prune
    sequential = sum(minutes(n) + CLI_ASSETS_PER_STACK for n in kinds)
    return Estimate(len(placed), len(stages), actions, total, sequential, len(reviewed))


def _environment_of(node: StackNode, config: PlatformConfig) -> str | None:
    if node.wave.startswith("env-"):
        return node.wave.removeprefix("env-")
    if node.wave == "cross-account":
        return next(e.name for e in config.environments if Names(config).cross_account_stack(e) == node.name)
    return None


def _changed(config: PlatformConfig, placed: Sequence[tuple[StackNode, str]], scenario: str) -> set[str]:
    if scenario in ("create", "update"):
        return {n.name for n, _ in placed}
    service = config.services[0]
    names = Names(config)
    return {names.pipeline_stack(service)} | {names.service_stack(service, e) for e in config.environments_of(service)}


SCENARIOS = {
    "create": "first rollout (every stack created)",
    "update": "a change to every stack",
    "one-service": "a change to one service's stacks",
}


def markdown(configs: Iterable[tuple[str, PlatformConfig]]) -> str:
    lines = [
        START,
        "## Rollout time (model)",
        "",
        "Written by `python -m tools.rollout_time` (also run by `make bench`). A **model**, not a measurement: "
        "nothing here deploys. It walks the platform pipeline's own plan (waves, run orders of at most "
        "`platform_pipeline.concurrency` actions, stacks grouped into CDK CLI deploys above "
        f"{MAX_DEPLOY_ACTIONS} actions), adds {ACTION_OVERHEAD} min of CodePipeline time per run order, the "
        f"build ({BUILD_MINUTES:.1f} min: a clean install and `make test`, whose 228.7 s were measured here), the "
        "self-update, asset publishing and the change-set previews of the reviews (the wait for a person's "
        "approval is not counted). A plain `cdk deploy --all` deploys the same stacks one after the other "
        "(the CLI's default concurrency of 1).",
        "",
        "| platform | stacks | stages | actions | scenario | platform pipeline | sequential `cdk deploy --all` "
        "| speed-up |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for label, config in configs:
        for scenario, text in SCENARIOS.items():
            e = estimate(config, scenario)
            lines.append(
                f"| {label} | {e.stacks} | {e.stages} | {e.actions} | {text} | {e.pipeline_minutes:.0f} min | "
                f"{e.sequential_minutes:.0f} min | {e.sequential_minutes / e.pipeline_minutes:.1f}x |"
            )
    lines += [
        "",
        "Where the minutes come from (per stack; create / update when it changed; an unchanged stack "
        f"{UNCHANGED} min):",
        "",
        "| stack | create | update | basis |",
        "|---|---:|---:|---|",
        *(f"| {k} | {v.create} | {v.update} | {v.basis} |" for k, v in KINDS.items()),
        "",
        "What the model leaves out: CloudFormation's own variance (an ECS service that never stabilizes waits up "
        "to three hours before it fails, aws-cloudformation/cloudformation-coverage-roadmap#1391), CodeBuild "
        "queueing when the account's concurrent-build quota is reached, and API throttling of hundreds of "
        "parallel change sets. For a small platform the build dominates: a sequential deploy of a few stacks "
        "is not slower than the pipeline, which buys review, waves and no laptop rather than speed.",
        END,
    ]
    return "\n".join(lines) + "\n"


def default_configs() -> list[tuple[str, PlatformConfig]]:
    from config import load_config, parse_config
    from tools.scale_config import scaled_config

    return [("default (3 services)", load_config()), ("200 services", parse_config(scaled_config(200)))]


def write(path: Path = DOC, configs: Iterable[tuple[str, PlatformConfig]] | None = None) -> str:
    """Replace the rollout section of `path` (or append it); returns the section."""
    section = markdown(configs if configs is not None else default_configs())
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END) + "\n?", re.DOTALL)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
    return section


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rollout_time", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--print", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args(argv)
    if args.print:
        print(markdown(default_configs()), end="")
    else:
        write()
        print(f"wrote the rollout section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
