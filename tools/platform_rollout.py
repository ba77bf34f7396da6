"""The platform pipeline's steps beyond CloudFormation actions (cdk_constructs/platform_pipeline.py).

    python -m tools.platform_rollout review --assembly DIR --wave W --accounts X,Y \\
        --bucket B --key K [--execution-id ID] [--variables review.env]
    python -m tools.platform_rollout stacks --assembly DIR [--account A] [--wave W]
    python -m tools.platform_rollout prune --assembly DIR --accounts X,Y [--max-removals N] [--execute]
    python -m tools.platform_rollout pr-report --config F --new cdk.out --destination-commit C \\
        [--pull-request ID --repository R --post]

review: the change report of one wave before its approval. A stack that exists is previewed with a
change set created through its account's bootstrap deploy role from the template `cdk publish-assets`
put in the bootstrap bucket (the one the CloudFormation action deploys), read page by page and
deleted again; a new stack is reported from its template (every resource added: no change set, so
no empty REVIEW_IN_PROGRESS stack is left behind). Stacks of the platform in the wave's accounts that
the assembly no longer has are listed as removed, with the resources their templates retain. The
report goes to the artifact bucket; REPORT_URL and SUMMARY go to a file the buildspec sources, for
the approval's link and text.

prune: deletes those stacks, dependents first (pipelines, then service stacks, foundations, and
cross-account roles last), at most --max-removals per run; more stops it before anything is
deleted. A stack counts as the platform's when its name starts with "<platform>-", its description
with "<platform>: " and CloudFormation deploys it as that account's bootstrap execution role.

pr-report: a pull request's change report: the destination commit is synthesized in a git worktree
and every template compared with the pull request's (replacements from the CloudFormation registry's
createOnlyProperties); --post puts it on the pull request as a comment.

Needs only boto3 (requirements-rollout.txt), except pr-report, which runs in the project's virtualenv.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cdk_constructs.platform_waves import WAVE_METADATA
from tools.change_report import StackChanges, describe, from_templates, render, summary

# `cdk bootstrap`'s default qualifier (config.names.CDK_QUALIFIER; this tool runs without the config package).
QUALIFIER = "hnb659fds"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
# Deleted first to last: what depends on a stack goes before it.
REMOVAL_ORDER = ("-pull-requests", "-pipeline-", "-service-", "-foundation-", "-cross-account-")
# CodeCommit: "Comments can be up to 10,240 characters" (PostCommentForPullRequest content).
MAX_COMMENT = 10_240
# The approval's CustomData holds 500 characters, the wave text included.
MAX_SUMMARY = 300
DONE = {"CREATE_COMPLETE", "FAILED", "DELETE_COMPLETE", "DELETE_FAILED"}


class RolloutError(Exception):
    """A step that cannot go on; printed as one line, exit code 2 (nothing half-done)."""


@dataclass(frozen=True)
class AssemblyStack:
    name: str
    account: str
    region: str
    template_file: str
    deploy_role: str
    execution_role: str
    template_url: str  # s3://bucket/key of the template cdk publish-assets uploads
    description: str
    wave: str  # WAVE_METADATA ("" for the platform pipeline's own stack)

    @property
    def https_template_url(self) -> str:
        bucket, _, key = self.template_url.removeprefix("s3://").partition("/")
        return f"https://{bucket}.s3.{self.region}.amazonaws.com/{key}"


def _partition(arn: str) -> str:
    return arn.replace("${AWS::Partition}", "aws")


def read_assembly(directory: Path) -> dict[str, AssemblyStack]:
    """The stacks of a cloud assembly (manifest.json), by stack name."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError) as error:
        raise RolloutError(f"{directory}: not a cloud assembly ({error})") from None
    stacks = {}
    for artifact_id, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        props = artifact.get("properties", {})
        account, region = artifact["environment"].removeprefix("aws://").split("/")
        template = json.loads((directory / props["templateFile"]).read_text())
        name = props.get("stackName", artifact_id)
        metadata = dict(artifact.get("metadata") or {})
        if artifact.get("additionalMetadataFile"):
            metadata.update(json.loads((directory / artifact["additionalMetadataFile"]).read_text()))
        wave = next((m["data"] for m in metadata.get(f"/{artifact_id}", []) if m.get("type") == WAVE_METADATA), "")
        stacks[name] = AssemblyStack(
            name=name,
            account=account,
            region=region,
            template_file=props["templateFile"],
            deploy_role=_partition(props.get("assumeRoleArn", "")),
            execution_role=_partition(props.get("cloudFormationExecutionRoleArn", "")),
            template_url=props.get("stackTemplateAssetObjectUrl", ""),
            description=str(template.get("Description", "")),
            wave=str(wave),
        )
    return stacks


def template_of(directory: Path, stack: AssemblyStack) -> dict[str, Any]:
    return dict(json.loads((directory / stack.template_file).read_text()))


def stacks_of(assembly: Mapping[str, AssemblyStack], *, account: str | None, wave: str | None) -> list[str]:
    """The platform's rolled-out stacks (those with a wave) of one account or one wave, sorted."""
    return sorted(
        s.name for s in assembly.values() if s.wave and (account in (None, s.account)) and (wave in (None, s.wave))
    )


# ----- AWS access: each account through its bootstrap deploy role -----

ClientFor = Callable[[str], Any]  # account -> CloudFormation client as that account's deploy role


def deploy_role_clients(region: str, platform: str) -> ClientFor:
    """CloudFormation clients as each account's bootstrap deploy role (assumed from the build's role)."""
    import boto3

    sts = boto3.client("sts", region_name=region)
    cache: dict[str, Any] = {}

    def client(account: str) -> Any:
        if account not in cache:
            role = f"arn:aws:iam::{account}:role/cdk-{QUALIFIER}-deploy-role-{account}-{region}"
            credentials = sts.assume_role(RoleArn=role, RoleSessionName=f"{platform}-rollout")["Credentials"]
            cache[account] = boto3.Session(
                aws_access_key_id=credentials["AccessKeyId"],
                aws_secret_access_key=credentials["SecretAccessKey"],
                aws_session_token=credentials["SessionToken"],
                region_name=region,
            ).client("cloudformation")
        return cache[account]

    return client


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def stack_status(cloudformation: Any, name: str) -> str | None:
    """The stack's status, or None when it does not exist (or is only an unexecuted review)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except Exception as error:
        if _error_code(error) == "ValidationError" and "does not exist" in str(error):
            return None
        raise
    status = str(stacks[0]["StackStatus"]) if stacks else None
    return None if status in (None, "REVIEW_IN_PROGRESS", "DELETE_COMPLETE") else status


def preview(
    cloudformation: Any,
    stack: AssemblyStack,
    template: Mapping[str, Any],
    change_set: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 900.0,
) -> StackChanges:
    """What deploying `template` would change in `stack`: a change set for a stack that exists, read and
    deleted; a new stack from its template."""
    if stack_status(cloudformation, stack.name) is None:
        return from_templates(stack.name, None, template, reason="new stack")
    cloudformation.create_change_set(
        StackName=stack.name,
        ChangeSetName=change_set,
        TemplateURL=stack.https_template_url,
        Capabilities=CAPABILITIES,
        RoleARN=stack.execution_role,
        ChangeSetType="UPDATE",
        Description="Review before the platform pipeline deploys this wave (deleted after reading)",
    )
    waited = 0.0
    while True:
        status = cloudformation.describe_change_set(StackName=stack.name, ChangeSetName=change_set)
        if status["Status"] in DONE:
            break
        if waited >= timeout_seconds:
            raise RolloutError(f"{stack.name}: change set {change_set} still {status['Status']} after {waited:.0f} s")
        sleep(poll_seconds)
        waited += poll_seconds
    changes = describe(cloudformation, stack.name, change_set)
    cloudformation.delete_change_set(StackName=stack.name, ChangeSetName=change_set)
    return changes


def platform_stacks(cloudformation: Any, platform: str, execution_role: str) -> list[dict[str, Any]]:
    """Stacks of an account that the platform deployed (name, description and execution role)."""
    found = []
    for page in cloudformation.get_paginator("describe_stacks").paginate():
        for s in page.get("Stacks", []):
            if (
                s["StackName"].startswith(f"{platform}-")
                and str(s.get("Description", "")).startswith(f"{platform}: ")
                and s.get("RoleARN") == execution_role
                and s["StackStatus"] not in ("DELETE_COMPLETE", "REVIEW_IN_PROGRESS")
            ):
                found.append(s)
    return found


def removal_rank(name: str) -> int:
    return next((i for i, marker in enumerate(REMOVAL_ORDER) if marker in name), len(REMOVAL_ORDER) // 2)


@dataclass(frozen=True)
class Removal:
    name: str
    account: str


def removals(
    assembly: Mapping[str, AssemblyStack], accounts: Iterable[str], client_for: ClientFor, platform: str, region: str
) -> list[Removal]:
    """The platform's stacks in `accounts` that the assembly no longer has, in deletion order."""
    found = []
    for account in accounts:
        role = f"arn:aws:iam::{account}:role/cdk-{QUALIFIER}-cfn-exec-role-{account}-{region}"
        for s in platform_stacks(client_for(account), platform, role):
            if s["StackName"] not in assembly:
                found.append(Removal(s["StackName"], account))
    return sorted(found, key=lambda r: (removal_rank(r.name), r.account, r.name))


def deployed_template(cloudformation: Any, name: str) -> dict[str, Any]:
    body = cloudformation.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
    return dict(json.loads(body)) if isinstance(body, str) else dict(body)


# ----- review -----


def review(
    directory: Path,
    wave: str,
    accounts: Sequence[str],
    client_for: ClientFor,
    *,
    platform: str,
    region: str,
    change_set: str,
    sleep: Callable[[float], None] = time.sleep,
    out: Callable[[str], None] = print,
    workers: int = 10,
) -> tuple[str, str]:
    """The wave's report (Markdown) and its one-line summary; `workers` stacks are previewed at once."""
    assembly = read_assembly(directory)
    names = stacks_of(assembly, account=None, wave=wave)
    if not names:
        raise RolloutError(f"wave {wave!r}: no stack of the assembly {directory} is in it")

    def one(name: str) -> StackChanges:
        stack = assembly[name]
        out(f"previewing {name} in {stack.account} ...")
        return preview(client_for(stack.account), stack, template_of(directory, stack), change_set, sleep=sleep)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results: list[StackChanges] = list(pool.map(one, names))  # in wave order, whatever finishes first
    gone = removals(assembly, accounts, client_for, platform, region)
    for removal in gone:
        out(f"{removal.name} in {removal.account} is no longer in the config: removed at the end of this rollout")
        template = deployed_template(client_for(removal.account), removal.name)
        results.append(from_templates(removal.name, template, None, reason="no longer in the config"))
    text = summary(results)
    intro = (
        f"Wave **{wave}**: {len(names)} stacks, previewed through each account's deploy role before the approval"
        + (
            f"; {len(gone)} stacks no longer in the config are deleted at the end of the rollout (Prune)"
            if gone
            else ""
        )
        + "."
    )
    return render(results, title=f"Change report: wave {wave}", intro=intro), text


def console_url(bucket: str, key: str, region: str) -> str:
    return f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"


def write_variables(path: Path, values: Mapping[str, str]) -> None:
    """Shell assignments the buildspec sources; CodeBuild exports them to the pipeline."""
    path.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()))


# ----- prune -----


def prune(
    directory: Path,
    accounts: Sequence[str],
    client_for: ClientFor,
    *,
    platform: str,
    region: str,
    max_removals: int,
    execute: bool,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 15.0,
    out: Callable[[str], None] = print,
) -> list[Removal]:
    assembly = read_assembly(directory)
    gone = removals(assembly, accounts, client_for, platform, region)
    if not gone:
        out("nothing to remove: every stack of the platform is in the config")
        return []
    if len(gone) > max_removals:
        raise RolloutError(
            f"{len(gone)} stacks would be deleted ({', '.join(r.name for r in gone)}); allowed: at most "
            f"{max_removals} per rollout (platform_pipeline.max_removals). Nothing was deleted"
        )
    for removal in gone:
        if not execute:
            out(f"would delete {removal.name} in {removal.account}")
            continue
        cloudformation = client_for(removal.account)
        out(f"deleting {removal.name} in {removal.account} ...")
        cloudformation.delete_stack(StackName=removal.name)
        waited = 0.0
        while True:
            status = stack_status(cloudformation, removal.name)
            if status is None:
                out(f"deleted {removal.name} ({waited:.0f} s); resources its template retains stay in the account")
                break
            if status == "DELETE_FAILED":
                reason = cloudformation.describe_stacks(StackName=removal.name)["Stacks"][0].get("StackStatusReason")
                raise RolloutError(f"{removal.name}: DELETE_FAILED ({reason}); the stacks after it were not deleted")
            sleep(poll_seconds)
            waited += poll_seconds
    return gone


# ----- pull-request report -----


def synth_commit(commit: str, config_file: str, workdir: Path, repo: Path) -> Path:
    """Synthesize `commit` of `repo` in a git worktree with this checkout's toolchain; its cdk.out."""
    tree, out_dir = workdir / "base", workdir / "base.out"
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), commit], check=True)
    # The layer the functions ship is built by make, not committed: the base uses this checkout's.
    if (repo / "build").exists():
        (tree / "build").symlink_to(repo / "build")
    cdk = str(repo / "node_modules" / ".bin" / "cdk")
    subprocess.run(
        [cdk, "synth", "--quiet", "--no-notices", "-o", str(out_dir), "-c", f"config={config_file}"],
        cwd=tree,
        check=True,
    )
    return out_dir


def compare(old: Path | None, new: Path, create_only: Callable[[str], frozenset[str]]) -> list[StackChanges]:
    """Every stack of two assemblies compared template by template (old None: every stack is new)."""
    before = read_assembly(old) if old else {}
    after = read_assembly(new)
    results = []
    for name in sorted(set(before) | set(after)):
        was = template_of(old, before[name]) if old and name in before else None
        now = template_of(new, after[name]) if name in after else None
        changes = from_templates(name, was, now, create_only)
        if changes.changes or was is None or now is None:
            results.append(changes)
    return results


def comment_token(pull_request: str, source_commit: str) -> str:
    return hashlib.sha256(f"platform-change-report/{pull_request}/{source_commit}".encode()).hexdigest()[:64]


def fit_comment(report: str, limit: int = MAX_COMMENT) -> str:
    if len(report) <= limit:
        return report
    tail = "\n\n… (cut at CodeCommit's comment limit; the build log has the whole report)\n"
    return report[: limit - len(tail)] + tail


# ----- command line -----


def _split(text: str, sep: str | None = None) -> list[str]:
    return [part for part in (text.split(sep) if sep else text.split()) if part]


def main(
    argv: Sequence[str] | None = None, client_for: ClientFor | None = None, s3: Any = None, codecommit: Any = None
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.platform_rollout", description=(__doc__ or "").split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    region_default = os.environ.get("PLATFORM_REGION") or os.environ.get("AWS_REGION")
    platform_default = os.environ.get("PLATFORM_NAME")

    def common(command: argparse.ArgumentParser) -> None:
        command.add_argument("--assembly", type=Path, required=True, help="the cloud assembly (cdk.out)")
        command.add_argument("--accounts", required=True, help="comma-separated accounts to look for removals in")
        command.add_argument("--platform", default=platform_default, help="platform name (default: $PLATFORM_NAME)")
        command.add_argument("--region", default=region_default, help="region (default: $PLATFORM_REGION)")

    r = commands.add_parser("review", help="change report of one wave, for its approval")
    common(r)
    r.add_argument("--wave", required=True, help="the wave (its stacks are those the assembly places in it)")
    r.add_argument("--bucket", required=True, help="where the report goes (the artifact bucket)")
    r.add_argument("--key", required=True, help="its object key")
    r.add_argument("--execution-id", default=os.environ.get("CODEBUILD_BUILD_NUMBER", "manual"))
    r.add_argument("--variables", type=Path, help="write REPORT_URL and SUMMARY here (shell)")
    r.add_argument("--workers", type=int, default=10, help="stacks previewed at once (default: 10)")
    p = commands.add_parser("prune", help="delete the platform's stacks the config no longer has")
    common(p)
    p.add_argument("--max-removals", type=int, default=10)
    p.add_argument("--execute", action="store_true", help="delete (default: say what would go)")
    q = commands.add_parser("pr-report", help="a pull request's change report, against its destination commit")
    q.add_argument("--config", required=True, help="the config file the platform synthesizes")
    q.add_argument("--new", type=Path, required=True, help="the pull request's cdk.out")
    q.add_argument("--destination-commit", required=True)
    q.add_argument("--source-commit", default=os.environ.get("SOURCE_COMMIT", ""))
    q.add_argument("--pull-request", default="")
    q.add_argument("--repository", default="")
    q.add_argument("--post", action="store_true", help="comment on the pull request")
    st = commands.add_parser("stacks", help="print the stacks of an account or of a wave (for the CLI steps)")
    st.add_argument("--assembly", type=Path, required=True)
    st.add_argument("--account", help="only the stacks deployed to this account")
    st.add_argument("--wave", help="only the stacks of this wave")
    args = parser.parse_args(argv)
    try:
        if args.command == "pr-report":
            return _pr_report(args, codecommit)
        if args.command == "stacks":
            print(" ".join(stacks_of(read_assembly(args.assembly), account=args.account, wave=args.wave)))
            return 0
        if not args.platform or not args.region:
            raise RolloutError("--platform and --region (or PLATFORM_NAME and PLATFORM_REGION) are required")
        accounts = _split(args.accounts, ",")
        client_for = client_for or deploy_role_clients(args.region, args.platform)
        if args.command == "prune":
            prune(
                args.assembly,
                accounts,
                client_for,
                platform=args.platform,
                region=args.region,
                max_removals=args.max_removals,
                execute=args.execute,
            )
            return 0
        change_set = "review-" + "".join(c if c.isalnum() else "-" for c in args.execution_id)[:100]
        report, text = review(
            args.assembly,
            args.wave,
            accounts,
            client_for,
            platform=args.platform,
            region=args.region,
            change_set=change_set,
            workers=args.workers,
        )
        print(report)
        if s3 is None:
            import boto3

            s3 = boto3.client("s3", region_name=args.region)
        s3.put_object(Bucket=args.bucket, Key=args.key, Body=report.encode(), ContentType="text/plain; charset=utf-8")
        if args.variables:
            write_variables(
                args.variables,
                {"REPORT_URL": console_url(args.bucket, args.key, args.region), "SUMMARY": text[:MAX_SUMMARY]},
            )
    except RolloutError as error:
        print(f"platform_rollout: {error}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(f"platform_rollout: {shlex.join(map(str, error.cmd))} exited with {error.returncode}", file=sys.stderr)
        return 2
    except Exception as error:  # botocore errors: one line, not a traceback
        code = _error_code(error) or type(error).__name__
        print(f"platform_rollout: {code}: {error}", file=sys.stderr)
        return 2
    return 0


def _pr_report(args: argparse.Namespace, codecommit: Any = None) -> int:
    from tools.change_report import create_only_properties

    new = read_assembly(args.new)
    region = next(iter(new.values())).region if new else "us-east-1"
    repo = Path.cwd()
    with tempfile.TemporaryDirectory() as work:
        try:
            base: Path | None = synth_commit(args.destination_commit, args.config, Path(work), repo)
            intro = f"Compared with the destination commit `{args.destination_commit[:12]}`"
        except subprocess.CalledProcessError:
            base = None
            intro = f"The destination commit `{args.destination_commit[:12]}` does not synthesize: every stack is new"
        results = compare(base, args.new, create_only_properties(region))
    # The worktree's directory is gone with the temporary one: drop git's record of it.
    subprocess.run(["git", "-C", str(repo), "worktree", "prune"], check=False)
    intro += (
        " (templates, not the deployed stacks: before production the pipeline reviews change sets of each wave). "
        f"{summary(results) if results else 'No stack changes.'}"
    )
    report = render(results, title="Platform change report (pull request)", intro=intro)
    print(report)
    if args.post:
        if not (args.pull_request and args.repository and args.source_commit):
            raise RolloutError("--post needs --pull-request, --repository and --source-commit (or SOURCE_COMMIT)")
        if codecommit is None:
            import boto3

            codecommit = boto3.client("codecommit")
        codecommit.post_comment_for_pull_request(
            pullRequestId=args.pull_request,
            repositoryName=args.repository,
            beforeCommitId=args.destination_commit,
            afterCommitId=args.source_commit,
            content=fit_comment(report),
            clientRequestToken=comment_token(args.pull_request, args.source_commit),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
