"""Shared helpers for the Teams notifier tests: a scripted local webhook server, moto setup,
a fake Lambda context, module loading and Adaptive Card checks.

Nothing here reaches the internet: the webhook server listens on 127.0.0.1 on an ephemeral port,
and AWS is moto with fake credentials.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import re
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import jsonschema
import pytest
from moto import mock_aws

REPO = Path(__file__).resolve().parents[2]
NOTIFIER_DIR = REPO / "lambda" / "teams_notifier"
EVENTS_DIR = REPO / "tests" / "fixtures" / "aws-events"
DERIVED_DIR = EVENTS_DIR / "derived"
SCHEMA_PATH = REPO / "tests" / "fixtures" / "schemas" / "adaptive-card-1.5.json"

if str(NOTIFIER_DIR) not in sys.path:
    sys.path.insert(0, str(NOTIFIER_DIR))

REGION = "eu-west-1"
TABLE = "acme-notifier-idempotency"
TOOLING_ACCOUNT = "111111111111"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{TOOLING_ACCOUNT}:function:acme-teams-notifier"
CHANNELS = ("alerts", "releases")
ALL_KINDS = (
    "pipeline_started", "pipeline_succeeded", "pipeline_failed", "pipeline_canceled", "pipeline_superseded",
    "pipeline_stuck",
    "stage_failed", "approval_waiting", "approval_approved", "approval_rejected", "build_succeeded",
    "build_failed", "deployment_started", "deployment_succeeded", "deployment_failed", "deployment_stopped",
    "pull_request_created", "pull_request_updated", "pull_request_merged", "pull_request_build_succeeded",
    "pull_request_build_failed",
)  # fmt: skip

# Adaptive Card enums, exact spelling (the 1.5 schema also accepts loose case-insensitive patterns).
CONTAINER_STYLES = {"default", "emphasis", "good", "attention", "warning", "accent"}
TEXT_COLORS = {"default", "dark", "light", "accent", "good", "warning", "attention"}
# Teams refuses cards larger than about 28 KB.
TEAMS_MAX_PAYLOAD_BYTES = 28 * 1024


def load_event(name: str) -> dict[str, Any]:
    path = EVENTS_DIR / name if (EVENTS_DIR / name).exists() else DERIVED_DIR / name
    return json.loads(path.read_text())


def real_event_files() -> list[str]:
    return sorted(p.name for p in EVENTS_DIR.glob("*.json"))


def derived_event_files() -> list[str]:
    return sorted(p.name for p in DERIVED_DIR.glob("notifier-*.json"))


# --------------------------------------------------------------------------------------
# Environment and module loading
# --------------------------------------------------------------------------------------


def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # Powertools: idempotency really on, the Logger at INFO under its default service name.
    for name in ("POWERTOOLS_IDEMPOTENCY_DISABLED", "POWERTOOLS_LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_DEV"):
        monkeypatch.delenv(name, raising=False)


def notifier_env(**overrides: Any) -> dict[str, str]:
    """Settings for the function; values that are not strings are JSON-encoded."""
    env: dict[str, Any] = {
        "PLATFORM_NAME": "acme",
        "ROUTES": {kind: ["alerts"] for kind in ALL_KINDS},
        "CHANNEL_SECRETS": {
            c: f"arn:aws:secretsmanager:{REGION}:{TOOLING_ACCOUNT}:secret:acme/teams/{c}" for c in CHANNELS
        },
        "FALLBACK_CHANNELS": ["alerts"],
        "IDEMPOTENCY_TABLE": TABLE,
        "ENVIRONMENTS": {TOOLING_ACCOUNT: "tooling", "123456789012": "sandbox", "222222222222": "dev"},
        "HTTP_TIMEOUT_SECONDS": "2",
        "MAX_ATTEMPTS": "4",
    }
    env.update(overrides)
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in env.items() if v is not None}


def load_notifier(monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> ModuleType:
    """Import ``notifier`` afresh (a cold start) with the given settings."""
    fake_aws_env(monkeypatch)
    env = notifier_env(**overrides)
    for name in ("PLATFORM_NAME", "ROUTES", "CHANNEL_SECRETS", "FALLBACK_CHANNELS", "IDEMPOTENCY_TABLE",
                 "IDEMPOTENCY_TTL_SECONDS", "ENVIRONMENTS", "HTTP_TIMEOUT_SECONDS", "MAX_ATTEMPTS",
                 "SECRET_CACHE_SECONDS", "PULL_REQUEST_PROJECT_SUFFIX", "POWERTOOLS_SERVICE_NAME"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("notifier", None)
    module = importlib.import_module("notifier")
    # The Logger's handler keeps the stream it was made with; capsys swaps sys.stdout per test.
    for handler in module.logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(CURRENT_STDOUT)
    return module


class _CurrentStdout:
    """Writes to whatever sys.stdout is at the time of the call."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


CURRENT_STDOUT = _CurrentStdout()


def secret_arn(channel: str) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{TOOLING_ACCOUNT}:secret:acme/teams/{channel}"


class FakeContext:
    """The parts of the Lambda context object the function reads."""

    def __init__(self, timeout_seconds: float = 60.0, function_arn: str = FUNCTION_ARN) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.invoked_function_arn = function_arn
        self.function_name = function_arn.rsplit(":", 1)[-1]
        self.memory_limit_in_mb = 256
        self.aws_request_id = "11111111-2222-3333-4444-555555555555"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --------------------------------------------------------------------------------------
# A scripted webhook server on 127.0.0.1
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds to wait before answering (a hung server)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request arrived

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookServer:
    """Answers each POST or PUT with the next scripted Reply for its path (default 202), and records it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                with server._lock:
                    server.requests.append(
                        Recorded(self.command, path, dict(self.headers.items()), body, time.monotonic())
                    )
                    queue = server._script[path]
                    reply = queue.popleft() if queue else Reply()
                if reply.delay:
                    server._closing.wait(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (timeout test)

            def do_PUT(self) -> None:  # CloudFormation custom resources answer with a PUT to their ResponseURL
                self.do_POST()

            def do_GET(self) -> None:
                with server._lock:
                    server.requests.append(
                        Recorded("GET", self.path, dict(self.headers.items()), b"", time.monotonic())
                    )
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._script.clear()

    def url(self, channel: str) -> str:
        return f"http://127.0.0.1:{self.port}/workflows/{channel}/triggers/manual/paths/invoke?sig=SIG-{channel}-s3cr3t"

    @staticmethod
    def path(channel: str) -> str:
        return f"/workflows/{channel}/triggers/manual/paths/invoke"

    def script(self, channel: str, *replies: Reply) -> None:
        self.script_path(self.path(channel), *replies)

    def script_path(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._script[path].extend(replies)

    def puts(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.method == "PUT" and r.path == path]

    def posts(self, channel: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r for r in self.requests if r.method == "POST" and (channel is None or r.path == self.path(channel))
            ]


@contextmanager
def webhook_server() -> Iterator[WebhookServer]:
    server = WebhookServer().start()
    try:
        yield server
    finally:
        server.close()


# --------------------------------------------------------------------------------------
# moto
# --------------------------------------------------------------------------------------


class ClientCache:
    """Stands in for a boto3 Session: one client per (service, region) for the whole test run.

    Making a boto3 client costs ~50 ms; moto intercepts clients made before ``mock_aws`` starts too,
    so sharing them keeps the suite fast. The function's botocore Config (timeouts, retries) is not
    applied to these shared clients; nothing in the tests depends on it.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region_name: str | None = None, config: Any = None) -> Any:
        key = (service, region_name or REGION)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(service, region_name=key[1])
            return self._clients[key]


CLIENTS = ClientCache()


@contextmanager
def mocked_aws(server: WebhookServer | None, json_secret_channels: tuple[str, ...] = ()) -> Iterator[None]:
    """moto with the idempotency table and one webhook secret per channel."""
    with mock_aws():
        CLIENTS.client("dynamodb").create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if server is not None:
            for channel in CHANNELS:
                put_webhook_secret(channel, server.url(channel), as_json=channel in json_secret_channels)
        yield


def put_webhook_secret(channel: str, url: str, as_json: bool = False) -> None:
    secrets = CLIENTS.client("secretsmanager")
    value = json.dumps({"url": url}) if as_json else url
    try:
        secrets.put_secret_value(SecretId=f"acme/teams/{channel}", SecretString=value)
    except secrets.exceptions.ResourceNotFoundException:
        secrets.create_secret(Name=f"acme/teams/{channel}", SecretString=value)


def table_items() -> dict[str, dict[str, Any]]:
    items = CLIENTS.client("dynamodb").scan(TableName=TABLE)["Items"]
    return {item["pk"]["S"]: item for item in items}


def delivery_key(event_id: str, channel: str) -> str:
    """The table key Powertools Idempotency gives an (event, channel): key prefix # sha256 of the payload.

    Spelled out here on purpose: if a Powertools upgrade changed it, records written before the
    deploy would stop matching (a duplicate could post twice), and these tests would say so.
    """
    payload = json.dumps({"channel": channel, "event_id": event_id}, sort_keys=True)
    return "delivery#" + hashlib.sha256(payload.encode()).hexdigest()


def delivery_item(event_id: str, channel: str) -> dict[str, Any]:
    return table_items()[delivery_key(event_id, channel)]


def clear_table() -> None:
    dynamodb = CLIENTS.client("dynamodb")
    for key in table_items():
        dynamodb.delete_item(TableName=TABLE, Key={"pk": {"S": key}})


def dependencies(module: ModuleType, **overrides: Any) -> Any:
    """The function's real dependencies, made with the shared clients (``overrides``: sleep, jitter, http...)."""
    return module.build_dependencies(module.SETTINGS, session=CLIENTS, **overrides)


# --------------------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------------------


@cache
def card_validator() -> jsonschema.Draft6Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft6Validator.check_schema(schema)
    return jsonschema.Draft6Validator(schema)


def schema_errors(card: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in card_validator().iter_errors(card)]


def unescape(text: str) -> str:
    return re.sub(r"\\([\\`*_\[\]])", r"\1", text)


def card_texts(node: Any) -> list[str]:
    """Every piece of text a reader sees: TextBlock text, fact titles and values, action titles."""
    found: list[str] = []
    if isinstance(node, dict):
        for key in ("text", "title", "value", "fallbackText"):
            if isinstance(node.get(key), str):
                found.append(unescape(node[key]))
        for value in node.values():
            if isinstance(value, list | dict):
                found.extend(card_texts(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(card_texts(item))
    return found


def facts(card: dict[str, Any]) -> dict[str, str]:
    for element in card["body"]:
        if element.get("type") == "FactSet":
            return {f["title"]: unescape(f["value"]) for f in element["facts"]}
    return {}


def actions(card: dict[str, Any]) -> dict[str, str]:
    return {a["title"]: a["url"] for a in card.get("actions", [])}


def header(card: dict[str, Any]) -> tuple[str, str, str]:
    """(title, container style, title colour) of the card's first container."""
    container = card["body"][0]
    title = container["items"][0]
    return unescape(title["text"]), container["style"], title["color"]


def check_envelope(payload: Any) -> dict[str, Any]:
    """Assert the Workflows envelope and a schema-valid card inside it; returns the card."""
    assert payload["type"] == "message"
    assert len(payload["attachments"]) == 1
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert "contentUrl" in attachment and attachment["contentUrl"] is None
    card = attachment["content"]
    assert schema_errors(card) == []
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    for element in walk(card):
        if element.get("type") == "Container" and "style" in element:
            assert element["style"] in CONTAINER_STYLES
        if element.get("type") == "TextBlock" and "color" in element:
            assert element["color"].lower() in TEXT_COLORS
        if element.get("type") == "Action.OpenUrl":
            assert element["url"].startswith("https://") and " " not in element["url"]
    return card


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse captured stdout: every non-empty line must be one JSON object."""
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]
