"""Read a platform config file and turn every problem into a readable `ConfigError`."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from config.model import MULTIPLE_PROBLEMS, UNION_TAGS, PlatformConfig

DEFAULT_CONFIG = Path(__file__).resolve().parent / "platform.yaml"
SCHEMA_FILE = Path(__file__).resolve().parent / "platform.schema.json"


class ConfigError(Exception):
    """A config file that cannot be used; `problems` holds one line per finding."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"Invalid platform config {self.source}:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def load_config(path: str | Path | None = None) -> PlatformConfig:
    """Load and validate a config file; the default is the embedded example platform."""
    file = Path(path) if path else DEFAULT_CONFIG
    allowed = (
        "allowed: a path to a YAML file (cdk synth -c config=path/to/platform.yaml), or no -c config for the default"
    )
    if file.is_dir():
        raise ConfigError(str(file), [f"{str(file)!r} is a directory; {allowed}"])
    if not file.is_file():
        raise ConfigError(str(file), [f"config file not found: {str(file)!r}; {allowed}"])
    try:
        raw = file.read_bytes()
    except OSError as error:
        raise ConfigError(str(file), [f"cannot read {str(file)!r}: {error.strerror}; {allowed}"]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(
            str(file),
            [
                f"line {line}: byte 0x{raw[error.start]:02x} is not UTF-8 ({error.reason}); allowed: a UTF-8 file "
                "(save it with UTF-8 encoding)"
            ],
        ) from None
    try:
        duplicates = duplicate_keys(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(file), [f"not valid YAML: {exc}"]) from None
    if duplicates:
        raise ConfigError(str(file), duplicates)
    if data is None:
        raise ConfigError(str(file), ["the file is empty; allowed: a mapping of settings (see config/platform.yaml)"])
    return parse_config(data, source=str(file))


def duplicate_keys(text: str) -> list[str]:
    """One line per key that a YAML mapping gives twice (YAML keeps only the last), with both lines."""
    found: list[str] = []

    def walk(node: yaml.Node, path: str) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                child = f"{path}.{key}" if path else str(key)
                if key is not None and key != "<<":
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        found.append(
                            f"{child}: given twice, on lines {seen[key]} and {line}; allowed: each key once "
                            "(YAML would silently keep only the last)"
                        )
                    else:
                        seen[key] = line
                walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]")

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return found


def parse_config(data: Any, source: str = "<data>") -> PlatformConfig:
    if not isinstance(data, dict):
        raise ConfigError(source, [f"top level: got {type(data).__name__}; allowed: a mapping of settings"])
    try:
        return PlatformConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, [line for error in exc.errors() for line in _describe(error, data)]) from None


def _location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in UNION_TAGS or str(part).startswith(("function-", "tagged-union")):
            continue
        else:
            text += ("." if text else "") + str(part)
    return text or "top level"


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    node = data
    for part in loc:
        if part in UNION_TAGS:
            continue
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _field_description(loc: tuple[Any, ...]) -> str | None:
    """The schema description of the field at `loc`, found by walking the model classes."""
    model: Any = PlatformConfig
    description = None
    for part in loc:
        if not isinstance(part, str) or part in UNION_TAGS:
            continue
        fields = getattr(model, "model_fields", None)
        if not fields:
            return None
        info = next((f for n, f in fields.items() if n == part or f.alias == part), None)
        if info is None:
            return None
        description = info.description
        model = _inner_model(info.annotation)
    return description


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


# Messages of model-level checks start with the path of the field they concern.
_RELATIVE_PATH = re.compile(r'^([a-z_][a-z0-9_]*(\[\d+\]|\["[^"]*"\]|\.[a-z0-9_-]+)*): ')

_BOUNDS = {
    "less_than_equal": lambda ctx: f"allowed: at most {ctx['le']}",
    "greater_than_equal": lambda ctx: f"allowed: at least {ctx['ge']}",
    "less_than": lambda ctx: f"allowed: less than {ctx['lt']}",
    "greater_than": lambda ctx: f"allowed: more than {ctx['gt']}",
    "too_short": lambda ctx: f"allowed: at least {ctx['min_length']} item(s)",
    "too_long": lambda ctx: f"allowed: at most {ctx['max_length']} item(s)",
    "string_too_long": lambda ctx: f"allowed: at most {ctx['max_length']} characters",
    "string_pattern_mismatch": lambda ctx: f"allowed: text matching {ctx['pattern']}",
}


def _describe(error: Any, data: Any) -> list[str]:
    """The lines one pydantic error becomes (a model-level check may report several problems)."""
    message = str(error["msg"])
    if message.startswith("Value error, ") and MULTIPLE_PROBLEMS in message:
        parts = message.removeprefix("Value error, ").split(MULTIPLE_PROBLEMS)
        return [_describe_one({**error, "msg": f"Value error, {part}"}, data) for part in parts]
    return [_describe_one(error, data)]


def _describe_one(error: Any, data: Any) -> str:
    loc = tuple(error["loc"])
    where = _location(loc)
    kind = error["type"]
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind == "missing":
        expected = _field_description(loc)
        return f"{where}: missing; required" + (f": {expected}" if expected else "")
    if kind == "extra_forbidden":
        return f"{where}: unknown field; remove it or check its spelling (see config/platform.schema.json)"
    value = error.get("input", _value_at(data, loc))
    shown = json.dumps(value, default=str) if not isinstance(value, dict) else "{...}"
    if len(shown) > 120:
        shown = shown[:117] + "..."
    if kind == "literal_error":
        message = f"allowed: {error['ctx']['expected']}"
    elif kind in _BOUNDS:
        message = _BOUNDS[kind](error.get("ctx", {}))
    elif kind == "value_error" and not message.startswith("allowed"):
        # Model-level checks write whole sentences that already name the value.
        relative = _RELATIVE_PATH.match(message)
        if relative:
            path = relative.group(1)
            where = path if where == "top level" else f"{where}{'' if path.startswith('[') else '.'}{path}"
            message = message[relative.end() :]
        return f"{where}: {message}"
    elif not message.startswith("allowed"):
        message = f"allowed: {message[0].lower()}{message[1:]}"
    return f"{where}: got {shown}; {message}"


def export_schema() -> str:
    """The JSON schema of the config, as written to config/platform.schema.json."""
    schema = PlatformConfig.model_json_schema(by_alias=True)
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
