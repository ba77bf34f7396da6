#!/usr/bin/env python3
"""Render the ECS deployment files of every environment (standard library only).

    python ci/render_deploy_files.py [OUT_DIR]        # default OUT_DIR: dist

Reads DEPLOY_ENVIRONMENTS, a JSON list with one object per environment (the platform
sets it on the build project):

    [{"name": "dev", "account": "222222222222", "region": "eu-west-1",
      "family": "acme-dev-orders", "execution_role_arn": "arn:aws:iam::...:role/...",
      "task_role_arn": "arn:aws:iam::...:role/...", "log_group": "/acme/dev/orders",
      "container_name": "orders", "container_port": 8080, "cpu": 256, "memory": 512}]

and writes, from the templates at the repository root:

    OUT_DIR/taskdef-<name>.json  from taskdef.json, one per environment
    OUT_DIR/appspec.yaml         from appspec.yaml, one for all (so container name and
                                 port must be the same in every environment)

Templates name values as ${key}, a key of the environment object; every ${...} must be
one (write $${ for a literal ${). CodePipeline's own placeholders, <IMAGE1_NAME> in the
task definition and <TASK_DEFINITION> in the AppSpec, are left for the deploy action.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
ENV_VAR = "DEPLOY_ENVIRONMENTS"
IMAGE_PLACEHOLDER = "<IMAGE1_NAME>"
TASK_DEFINITION_PLACEHOLDER = "<TASK_DEFINITION>"

# key -> (type, pattern for strings). The patterns keep every value free of characters
# that would need escaping in JSON or YAML.
_ROLE_ARN = r"arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}"
FIELDS: dict[str, tuple[type, str | None]] = {
    "name": (str, r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"),
    "account": (str, r"\d{12}"),
    "region": (str, r"[a-z]{2,4}(-[a-z]+)+-\d{1,2}"),
    "family": (str, r"[A-Za-z0-9_-]{1,255}"),
    "execution_role_arn": (str, _ROLE_ARN),
    "task_role_arn": (str, _ROLE_ARN),
    "log_group": (str, r"[A-Za-z0-9_./#-]{1,512}"),
    "container_name": (str, r"[A-Za-z0-9_-]{1,255}"),
    "container_port": (int, None),
    "cpu": (int, None),
    "memory": (int, None),
}
SHARED_KEYS = ("container_name", "container_port")  # the one appspec.yaml uses only these

# ${name} and the $${...} escape; any other "${" is an error.
PLACEHOLDER = re.compile(r"\$(\$?)\{([^{}\n]*)\}")


class RenderError(Exception):
    """A problem the person running the pipeline must fix; the message says what."""


def load_environments(raw: str | None) -> list[dict[str, Any]]:
    example = '[{"name": "dev", "account": "...", "region": "...", ...}]'
    if raw is None or not raw.strip():
        raise RenderError(f"{ENV_VAR} is not set: it must hold a JSON list of environments, e.g. {example}")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RenderError(f"{ENV_VAR} is not valid JSON: {exc}") from None
    if not isinstance(data, list) or not data:
        raise RenderError(f"{ENV_VAR} must be a non-empty JSON list of environment objects, e.g. {example}")

    environments = [validate_environment(index, item) for index, item in enumerate(data)]
    names = [env["name"] for env in environments]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise RenderError(f"{ENV_VAR}: environment names must be unique, repeated: {', '.join(duplicates)}")
    for key in SHARED_KEYS:
        values = {env["name"]: env[key] for env in environments}
        if len(set(values.values())) > 1:
            found = ", ".join(f"{name}={value}" for name, value in values.items())
            raise RenderError(
                f"{ENV_VAR}: {key} must be the same in every environment, because one appspec.yaml "
                f"serves them all; found {found}"
            )
    return environments


def validate_environment(index: int, item: Any) -> dict[str, Any]:
    where = f"{ENV_VAR}[{index}]"
    if not isinstance(item, dict):
        raise RenderError(f"{where} must be a JSON object, got {type(item).__name__}")
    if isinstance(item.get("name"), str):
        where = f"{where} ({item['name']})"
    missing = [key for key in FIELDS if key not in item]
    if missing:
        raise RenderError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(item) - set(FIELDS))
    if unknown:
        print(f"render_deploy_files: note: {where}: ignoring {', '.join(unknown)}", file=sys.stderr)

    problems = []
    for key, (kind, pattern) in FIELDS.items():
        value = item[key]
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(f"{key} must be a JSON number (integer), got {value!r}")
            elif value <= 0 or (key == "container_port" and value > 65535):
                problems.append(f"{key} is out of range: {value}")
        elif not isinstance(value, str):
            problems.append(f"{key} must be a string, got {value!r}")
        elif pattern and not re.fullmatch(pattern, value):
            problems.append(f"{key} is not valid: {value!r}")
    if not problems:
        for key in ("execution_role_arn", "task_role_arn"):
            if item[key].split(":")[4] != item["account"]:
                problems.append(f"{key} is not in account {item['account']}: {item[key]}")
    if problems:
        raise RenderError(f"{where}: " + "; ".join(problems))
    return {key: item[key] for key in FIELDS}


def substitute(template: str, values: dict[str, Any], source: str) -> str:
    """Replace every ${key}; an unknown key or an unclosed ${ is an error."""
    unknown: list[str] = []

    def replace(match: re.Match[str]) -> str:
        escaped, key = match.group(1), match.group(2)
        if escaped:
            return "${" + key + "}"
        if key not in values:
            unknown.append(key)
            return match.group(0)
        return str(values[key])

    rendered = PLACEHOLDER.sub(replace, template)
    if unknown:
        raise RenderError(
            f"{source}: unknown placeholder(s) {', '.join('${' + k + '}' for k in sorted(set(unknown)))}; "
            f"known here: {', '.join('${' + k + '}' for k in values)}"
        )
    covered = {index for match in PLACEHOLDER.finditer(template) for index in range(*match.span())}
    for match in re.finditer(r"\$\{", template):
        if match.start() not in covered:
            line = template.count("\n", 0, match.start()) + 1
            raise RenderError(f"{source}: line {line}: '${{' without a matching '}}' (write $${{ for a literal ${{)")
    return rendered


def render_task_definition(template: str, env: dict[str, Any]) -> dict[str, Any]:
    source = f"taskdef.json for {env['name']}"
    text = substitute(template, env, source)
    try:
        taskdef = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RenderError(f"{source}: the result is not valid JSON: {exc}") from None
    if not isinstance(taskdef, dict):
        raise RenderError(f"{source}: the result must be a JSON object")
    for key in ("cpu", "memory"):
        if key in taskdef and not isinstance(taskdef[key], str):
            raise RenderError(f'{source}: task-level "{key}" must be a string for ECS, e.g. "{env[key]}"')
    containers = taskdef.get("containerDefinitions") or []
    if IMAGE_PLACEHOLDER not in [c.get("image") for c in containers if isinstance(c, dict)]:
        raise RenderError(f'{source}: a container needs "image": "{IMAGE_PLACEHOLDER}" (CodePipeline fills it)')
    targets = [c for c in containers if isinstance(c, dict) and c.get("name") == env["container_name"]]
    if not targets:
        raise RenderError(f"{source}: no container named {env['container_name']!r} (the load balancer's target)")
    ports = [m.get("containerPort") for m in targets[0].get("portMappings") or [] if isinstance(m, dict)]
    if env["container_port"] not in ports or not all(isinstance(p, int) for p in ports):
        raise RenderError(
            f"{source}: container {env['container_name']!r} must map containerPort {env['container_port']} "
            f"as a JSON integer, found {ports!r}"
        )
    return taskdef


def render_appspec(template: str, env: dict[str, Any]) -> str:
    shared = {key: env[key] for key in SHARED_KEYS}
    text = substitute(template, shared, "appspec.yaml (shared by all environments)")
    if TASK_DEFINITION_PLACEHOLDER not in text:
        raise RenderError(f"appspec.yaml: TaskDefinition must be {TASK_DEFINITION_PLACEHOLDER} (CodePipeline fills it)")
    return text


def render(environments: list[dict[str, Any]], template_dir: Path, out_dir: Path) -> list[Path]:
    try:
        taskdef_template = (template_dir / "taskdef.json").read_text(encoding="utf-8")
        appspec_template = (template_dir / "appspec.yaml").read_text(encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"cannot read a template: {exc}") from None
    outputs: dict[Path, str] = {}
    for env in environments:
        taskdef = render_task_definition(taskdef_template, env)
        outputs[out_dir / f"taskdef-{env['name']}.json"] = json.dumps(taskdef, indent=2) + "\n"
    outputs[out_dir / "appspec.yaml"] = render_appspec(appspec_template, environments[0])

    out_dir.mkdir(parents=True, exist_ok=True)
    for path, text in outputs.items():
        path.write_text(text, encoding="utf-8")
    return list(outputs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render taskdef-<env>.json and appspec.yaml from DEPLOY_ENVIRONMENTS.")
    parser.add_argument("out_dir", nargs="?", default="dist", type=Path, help="output directory (default: dist)")
    parser.add_argument(
        "--template-dir", type=Path, default=TEMPLATE_DIR, help="where taskdef.json and appspec.yaml are"
    )
    args = parser.parse_args(argv)
    try:
        environments = load_environments(os.environ.get(ENV_VAR))
        written = render(environments, args.template_dir, args.out_dir)
    except RenderError as exc:
        print(f"render_deploy_files: error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
