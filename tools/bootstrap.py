"""Cross-account bootstrap: prepare every account of the config, in the order that works.

    python -m tools.bootstrap                      # dry run: check profiles with STS, print the plan
    python -m tools.bootstrap --offline            # print the plan without calling AWS
    python -m tools.bootstrap --execute            # check, then run every step
    python -m tools.bootstrap -c my-platform.yaml  # another config
    python -m tools.bootstrap --offline --write-policies DIR   # also write each account's policy, DIR/<account>.json
    python -m tools.bootstrap --quotas --offline   # quota preflight of cdk.out only: what it would request, no AWS
    python -m tools.bootstrap --quotas [--execute] [--assembly cdk.out]   # read applied quotas (and request increases)

Order: first the quota preflight (tools/quota_preflight.py: every quota the synthesized platform
would use more than 80% of is raised through Service Quotas); then for each target account,
(1) the scoped CloudFormation execution policy (boto3), (2) `cdk bootstrap --trust <tooling>`; then
the tooling account's policy and bootstrap; then the first deploy of the platform pipeline stack and
the first push to its repository: the pipeline deploys every other stack (docs/adr/0009).
With `platform_pipeline: {enabled: false}` the tool deploys every stack itself instead: each target
account's CrossAccountRolesStack after its bootstrap, then from the tooling account through the
trust CodeArtifact and notifications, the environment foundations, the service stacks, the
pipelines, pull-request validation.
Every profile is checked with STS before anything touches its account.

A config with `delivery: amazon_q` channels also gets one manual step per Microsoft Teams team,
listed before the notifications stack is deployed: an administrator of the team authorizes it once
in the Amazon Q Developer in chat applications console of the tooling account (CloudFormation
cannot create AWS::Chatbot::MicrosoftTeamsChannelConfiguration before that). The tool cannot do or
check it; it prints it, in the dry run and in --execute.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config import ConfigError, load_config
from config.model import Channel, PlatformConfig
from config.names import Names
from config.policies import cfn_execution_policy_name, execution_policy

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CDK = str(REPO_ROOT / "node_modules" / ".bin" / "cdk")


class BootstrapError(Exception):
    """A problem that stops the bootstrap before it touches an account."""


@dataclass(frozen=True)
class Account:
    role: str  # "tooling" or the environments it serves, e.g. "dev"
    account: str
    region: str
    profile: str | None

    @property
    def label(self) -> str:
        return f"{self.role} account {self.account} ({self.region}, profile {self.profile or 'default credentials'})"


@dataclass(frozen=True)
class Step:
    """One thing the bootstrap does: an execution policy to put in place, a CLI command, or a manual step."""

    description: str
    account: Account
    command: tuple[str, ...] = ()
    policy_name: str = ""
    policy_document: dict[str, Any] = field(default_factory=dict)
    # What a person does by hand (the tool neither does nor checks it).
    manual: str = ""

    def render(self) -> str:
        if self.command:
            return shlex.join(self.command)
        if self.manual:
            return f"(manual) {self.manual}"
        return (
            f"(boto3) create or update IAM managed policy {self.policy_name} in {self.account.account} "
            f"({len(json.dumps(self.policy_document))} characters, see config/policies.py)"
        )


def target_accounts(config: PlatformConfig) -> list[Account]:
    """Distinct target accounts (and regions), in config order; the first environment's profile wins."""
    seen: dict[tuple[str, str], Account] = {}
    for env in config.environments:
        key = (env.account, config.region_of(env))
        if key in seen:
            previous = seen[key]
            seen[key] = Account(f"{previous.role}+{env.name}", previous.account, previous.region, previous.profile)
        else:
            seen[key] = Account(env.name, env.account, config.region_of(env), env.profile)
    return [a for a in seen.values() if a.account != config.tooling.account]


def tooling_account(config: PlatformConfig) -> Account:
    return Account("tooling", config.tooling.account, config.tooling.region, config.tooling.profile)


def _profile_args(account: Account) -> list[str]:
    return ["--profile", account.profile] if account.profile else []


def _deploy_step(description: str, account: Account, cdk: str, stacks: list[str], context: list[str]) -> Step:
    """`cdk deploy` of exactly `stacks` with `account`'s profile, without the approval prompt."""
    return Step(
        description,
        account,
        command=(
            cdk,
            "deploy",
            *stacks,
            "--exclusively",
            "--require-approval",
            "never",
            *_profile_args(account),
            *context,
        ),
    )


def quota_step(tooling: Account, config_path: str | None = None) -> Step:
    """The quota preflight of the synthesized cdk.out (tools/quota_preflight.py), before anything is deployed."""
    return Step(
        "Quota preflight: request every quota increase the synthesized platform (cdk.out) needs, "
        "so that it uses at most 80% of each applied value (needs `make synth` first)",
        tooling,
        command=(
            sys.executable,
            "-m",
            "tools.bootstrap",
            "--quotas",
            "--execute",
            *(["-c", config_path] if config_path else []),
        ),
    )


def amazon_q_steps(config: PlatformConfig, tooling: Account) -> list[Step]:
    """One manual step per Microsoft Teams team (and tenant) that `delivery: amazon_q` channels post to."""
    names = Names(config)
    teams: dict[tuple[str, str], list[Channel]] = {}
    for channel in config.notifications.channels:
        if channel.delivery == "amazon_q" and channel.amazon_q is not None:
            teams.setdefault((channel.amazon_q.tenant_id, channel.amazon_q.team_id), []).append(channel)
    steps = []
    for (tenant_id, team_id), channels in teams.items():
        listed = ", ".join(c.name for c in channels)
        configurations = ", ".join(names.amazon_q_configuration(c) for c in channels)
        steps.append(
            Step(
                f"One-time manual step before the notifications stack: authorize the Microsoft Teams team {team_id} "
                f"(tenant {tenant_id}) for Amazon Q Developer in chat applications (amazon_q channel(s) {listed})",
                tooling,
                manual=(
                    f"in the Amazon Q Developer in chat applications console of the {tooling.label}, an "
                    f"administrator of team {team_id} configures a Microsoft Teams client: paste the link of a "
                    "channel of that team and accept Microsoft's authorization page. Until then CloudFormation "
                    f"cannot create the channel configuration(s) {configurations} "
                    "(AWS::Chatbot::MicrosoftTeamsChannelConfiguration) and the notifications stack fails; this "
                    "tool can neither do nor check it"
                ),
            )
        )
    return steps


def push_step(config: PlatformConfig, tooling: Account) -> Step:
    """The platform's first push: the pipeline's repository is created empty."""
    names, branch = Names(config), config.platform_pipeline.branch
    remote = (
        f"codecommit::{tooling.region}://{tooling.profile + '@' if tooling.profile else ''}{names.platform_repository}"
    )
    return Step(
        f"Push this repository (with {config.platform_pipeline.config_file}) to {names.platform_repository}: the "
        "push starts the platform pipeline, whose waves deploy the cross-account, tooling, environment, service, "
        "pipeline and pull-request stacks",
        tooling,
        manual=(
            f"git remote add platform {remote} && git push platform HEAD:{branch} "
            "(git-remote-codecommit: pip install git-remote-codecommit); then approve the reviews before "
            "production in the pipeline, from the change report each links to"
        ),
    )


def plan(config: PlatformConfig, cdk: str = DEFAULT_CDK, config_path: str | None = None) -> list[Step]:
    """Every step, in order. With the platform pipeline (the default) only what must happen once by hand:
    the execution policies, `cdk bootstrap` of each account and the first deploy of the platform pipeline;
    the pipeline deploys every other stack. Without it, every stack by hand, in dependency order."""
    names = Names(config)
    pipeline = config.platform_pipeline.enabled
    tooling = tooling_account(config)
    context = ["-c", f"config={config_path}"] if config_path else []
    steps: list[Step] = [quota_step(tooling, config_path)]
    for account in target_accounts(config):
        policy = cfn_execution_policy_name(config)
        steps.append(
            Step(
                f"Scoped CloudFormation execution policy in {account.label}",
                account,
                policy_name=policy,
                policy_document=execution_policy(config, account.account),
            )
        )
        steps.append(
            Step(
                f"Bootstrap {account.label}, trusting the tooling account",
                account,
                command=(
                    cdk,
                    "bootstrap",
                    f"aws://{account.account}/{account.region}",
                    "--trust",
                    tooling.account,
                    "--trust-for-lookup",
                    tooling.account,
                    "--cloudformation-execution-policies",
                    f"arn:aws:iam::{account.account}:policy/{policy}",
                    *_profile_args(account),
                    *context,
                ),
            )
        )
        if not pipeline:
            stacks = [names.cross_account_stack(e) for e in config.environments if e.account == account.account]
            steps.append(
                _deploy_step(f"Deploy the cross-account roles of {account.label}", account, cdk, stacks, context)
            )
    policy = cfn_execution_policy_name(config)
    steps.append(
        Step(
            f"Scoped CloudFormation execution policy in the {tooling.label}",
            tooling,
            policy_name=policy,
            policy_document=execution_policy(config, tooling.account),
        )
    )
    steps.append(
        Step(
            f"Bootstrap the {tooling.label}",
            tooling,
            command=(
                cdk,
                "bootstrap",
                f"aws://{tooling.account}/{tooling.region}",
                "--cloudformation-execution-policies",
                f"arn:aws:iam::{tooling.account}:policy/{policy}",
                *_profile_args(tooling),
                *context,
            ),
        )
    )

    def deploy(description: str, stacks: list[str]) -> None:
        if stacks:
            steps.append(_deploy_step(description, tooling, cdk, stacks, context))

    steps.extend(amazon_q_steps(config, tooling))
    if pipeline:
        deploy(
            "Deploy the platform pipeline (once, by hand: from now on it deploys every other stack of the "
            "platform, and itself, from the platform repository)",
            [names.platform_pipeline_stack],
        )
        steps.append(push_step(config, tooling))
        return steps
    deploy(
        "Deploy the shared tooling stacks (pipeline triggers, CodeArtifact, notifications)",
        [names.tooling_stack, names.codeartifact_stack, names.notifications_stack],
    )
    deploy(
        "Deploy each environment's foundation (network, shared load balancers, ECS cluster, CodeDeploy roles) "
        "into the target accounts, through the bootstrap trust (before the service stacks, which attach to it)",
        [names.foundation_stack(e) for e in config.environments if config.services_in(e)],
    )
    deploy(
        "Deploy the service stacks into the target accounts, through the bootstrap trust "
        "(before the pipelines, whose first run deploys to them)",
        [
            names.service_stack(s, e)
            for e in config.environments
            for s in config.services
            if e in config.environments_of(s)
        ],
    )
    deploy("Deploy one pipeline per service", [names.pipeline_stack(s) for s in config.services])
    if any(s.pull_request_validation for s in config.services):
        deploy(
            "Deploy pull-request validation (approval rule templates need the repositories)", [names.pull_request_stack]
        )
    return steps


# ----- talking to AWS -----


class AwsAccess:
    """boto3 sessions per profile; tests replace `client` to stub STS and IAM."""

    def client(self, account: Account, service: str, region: str | None = None) -> Any:
        """A client with `account`'s profile, in its region or `region` (global quotas: us-east-1)."""
        import boto3
        from botocore.exceptions import ProfileNotFound

        try:
            session = boto3.Session(profile_name=account.profile, region_name=region or account.region)
        except ProfileNotFound as error:
            raise BootstrapError(
                f"profile {account.profile!r} for the {account.label} is not configured "
                f"(aws configure --profile {account.profile}, or fix `profile` in the config)"
            ) from error
        return session.client(service)

    def verify(self, account: Account) -> None:
        """Refuse to go on unless the profile's STS identity is the account the config names."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        sts = self.client(account, "sts")
        try:
            identity = sts.get_caller_identity()
        except NoCredentialsError as error:
            raise BootstrapError(
                f"no AWS credentials for the {account.label}: log in (aws sso login"
                + (f" --profile {account.profile}" if account.profile else "")
                + ") or set credentials"
            ) from error
        except (ClientError, BotoCoreError) as error:
            raise BootstrapError(f"cannot verify the {account.label} with STS: {error}") from error
        actual = str(identity["Account"])
        if actual != account.account:
            raise BootstrapError(
                f"profile {account.profile or '(default)'} is account {actual} ({identity.get('Arn')}), "
                f"but the config expects {account.role} account {account.account}: refusing to touch it"
            )

    def put_policy(self, step: Step) -> str:
        """Create the managed policy, or make the document its default version; returns its ARN."""
        iam = self.client(step.account, "iam")
        arn = f"arn:aws:iam::{step.account.account}:policy/{step.policy_name}"
        document = json.dumps(step.policy_document)
        try:
            iam.create_policy(
                PolicyName=step.policy_name,
                PolicyDocument=document,
                Description="Scoped CloudFormation execution policy of the CDK bootstrap (pipelines platform)",
            )
            return arn
        except iam.exceptions.EntityAlreadyExistsException:
            pass
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        if len(versions) >= 5:  # IAM keeps at most five versions
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            iam.delete_policy_version(PolicyArn=arn, VersionId=oldest["VersionId"])
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=document, SetAsDefault=True)
        return arn


Runner = Callable[[Sequence[str]], None]


def run_command(command: Sequence[str]) -> None:
    subprocess.run(list(command), cwd=REPO_ROOT, check=True)


def bootstrap(
    config: PlatformConfig,
    *,
    execute: bool,
    verify: bool,
    aws: AwsAccess,
    runner: Runner = run_command,
    out: Callable[[str], None] = print,
    cdk: str = DEFAULT_CDK,
    config_path: str | None = None,
) -> list[Step]:
    steps = plan(config, cdk=cdk, config_path=config_path)
    accounts = [*target_accounts(config), tooling_account(config)]
    if verify:
        for account in accounts:
            aws.verify(account)
            out(f"verified: {account.label}")
    out(("Running" if execute else "Dry run (add --execute to run)") + f": {len(steps)} steps")
    if config.platform_pipeline.enabled:
        out(
            "Only what must happen once by hand: the execution policies, `cdk bootstrap` of each account and the "
            f"first deploy of {Names(config).platform_pipeline_stack}. The platform pipeline deploys everything "
            "else, and every later change, from its repository."
        )
    for number, step in enumerate(steps, start=1):
        out(f"\n[{number}/{len(steps)}] {step.description}\n  {step.render()}")
        if not execute:
            continue
        if step.command:
            runner(step.command)
        elif step.manual:
            out("  -> not done or checked by this tool: if it has not been done, the next deploy stops on it")
        else:
            out(f"  -> {aws.put_policy(step)}")
    return steps


def write_policies(steps: Sequence[Step], directory: Path, out: Callable[[str], None] = print) -> list[Path]:
    """The exact execution policy each account gets, as <account>.json (what --execute applies)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for step in steps:
        if not step.policy_name:
            continue
        path = directory / f"{step.account.account}.json"
        path.write_text(json.dumps(step.policy_document, indent=2) + "\n", encoding="utf-8")
        written.append(path)
        out(f"wrote {path}: {step.policy_name} for the {step.account.label}")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bootstrap", description=__doc__.split("\n\n")[0])
    parser.add_argument("-c", "--config", help="platform config file (default: config/platform.yaml)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--execute", action="store_true", help="run the steps (default: dry run)")
    mode.add_argument("--offline", action="store_true", help="dry run without STS checks (no credentials needed)")
    parser.add_argument("--cdk", default=DEFAULT_CDK, help="CDK CLI to run (default: the pinned one)")
    parser.add_argument(
        "--write-policies",
        metavar="DIR",
        help="write the execution policy of each account to DIR/<account>.json before anything else",
    )
    parser.add_argument(
        "--quotas",
        action="store_true",
        help="only the quota preflight of the synthesized assembly: with --offline what it would request "
        "(defaults assumed), by default the applied values read, with --execute the increases requested",
    )
    parser.add_argument(
        "--assembly",
        metavar="DIR",
        type=Path,
        default=REPO_ROOT / "cdk.out",
        help="synthesized cloud assembly the quota preflight counts (default: cdk.out, from `make synth`)",
    )
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        if args.quotas:
            from tools import quota_preflight

            quota_preflight.run(
                config,
                args.assembly,
                mode="offline" if args.offline else "execute" if args.execute else "dry-run",
                aws=None if args.offline else AwsAccess(),
            )
            return 0
        if args.write_policies:
            write_policies(plan(config, cdk=args.cdk, config_path=args.config), Path(args.write_policies))
        bootstrap(
            config,
            execute=args.execute,
            verify=not args.offline,
            aws=AwsAccess(),
            cdk=args.cdk,
            config_path=args.config,
        )
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 1
    except BootstrapError as error:
        print(f"bootstrap stopped: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"bootstrap stopped: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"bootstrap stopped: {shlex.join(error.cmd)} exited with {error.returncode}", file=sys.stderr)
        return error.returncode or 1
    return 0


if __name__ == "__main__":
    # One module, not __main__ beside tools.bootstrap: tools.quota_preflight raises tools.bootstrap's BootstrapError.
    from tools.bootstrap import main as module_main

    sys.exit(module_main())
