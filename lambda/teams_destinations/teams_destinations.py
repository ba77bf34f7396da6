"""Keeps each api_destination channel's EventBridge connection and API destination on its webhook URL.

The URL lives only in the channel's Secrets Manager secret. It reaches EventBridge here, at
deploy time and whenever `python -m tools.teams_webhook` stores a new one, never through a
template (CloudFormation would resolve a dynamic reference once and never again, and the secret
holds no URL on the first deploy):

- the connection carries the URL's `sig` query parameter (the Workflows signature, what makes the
  URL usable) as a secret query-string parameter, which EventBridge keeps in its own secret and
  never returns or logs;
- the API destination's endpoint is the rest of the URL;
- while the secret holds no https URL yet, the endpoint is a placeholder on the reserved
  `.invalid` domain: EventBridge cannot deliver to it, retries, and parks the events in the
  notifications stack's dead-letter queue (redrive them once the URL is set).

Invoked two ways:
- by CloudFormation, through aws-cdk-lib's custom-resource provider framework (which answers
  CloudFormation), for `Custom::TeamsApiDestination` with the properties Channel, Name, SecretId,
  Description and RateLimitPerSecond: Create and Update make the connection and destination match
  the secret (creating what is missing), Delete removes both;
- directly with {"sync": ["<channel>", ...]} (an empty list: every channel of CHANNELS), after a
  URL was stored: the same, for those channels; the answer says per channel whether it is
  configured, never the URL.

No URL or signature is ever logged, returned or put in an exception message; the log
formatter masks any `sig=` value all the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord
from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotocoreConfig

API_KEY_HEADER = "x-platform-notification"  # EventBridge connections need an authorization; Teams ignores it
SIGNATURE_PARAMETER = "sig"
PLACEHOLDER_HOST = "teams-webhook-not-configured.invalid"
AUTHORIZED_WAIT_SECONDS = 60
# The Workflows signature is the URL's credential (whoever has it can post to the channel).
SIGNATURE_IN_TEXT = re.compile(r"(?i)(\bsig=)[^&\s\"'\\]+")


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with every `sig=` value masked: a second line of defence."""

    def serialize(self, log: LogRecord) -> str:
        return SIGNATURE_IN_TEXT.sub(r"\1[REDACTED]", super().serialize(log))


logger = Logger(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "teams_destinations", logger_formatter=RedactingFormatter()
)


@dataclass(frozen=True)
class Channel:
    """What one api_destination channel needs: the names of its EventBridge resources and its secret."""

    channel: str
    name: str  # of both the connection and the API destination
    secret_id: str
    description: str
    rate_limit_per_second: int

    @staticmethod
    def from_properties(properties: Mapping[str, Any]) -> Channel:
        try:
            return Channel(
                channel=str(properties["Channel"]),
                name=str(properties["Name"]),
                secret_id=str(properties["SecretId"]),
                description=str(properties.get("Description", ""))[:512],
                rate_limit_per_second=int(properties.get("RateLimitPerSecond", 1)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"Custom::TeamsApiDestination properties are incomplete: {error!r}") from None


@dataclass(frozen=True)
class Target:
    """Where EventBridge posts: the endpoint, and the signature it adds as a secret parameter."""

    endpoint: str
    signature: str | None

    @property
    def configured(self) -> bool:
        return self.signature is not None or urlsplit(self.endpoint).hostname != PLACEHOLDER_HOST


def webhook_url(secret_value: str) -> str | None:
    """The https URL a secret holds (the plain URL, or {"url": "..."}); None while it holds none."""
    text = secret_value.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError:
            return None
        text = str(document.get("url") or "").strip() if isinstance(document, dict) else ""
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    return text if parts.scheme == "https" and parts.hostname else None


def target_for(channel: str, secret_value: str) -> Target:
    """Split a Workflows URL into endpoint and `sig`; a placeholder endpoint without a URL."""
    url = webhook_url(secret_value)
    if url is None:
        return Target(f"https://{PLACEHOLDER_HOST}/{channel}", None)
    parts = urlsplit(url)
    kept, signature = [], None
    for pair in parts.query.split("&") if parts.query else []:
        key, _, value = pair.partition("=")
        if unquote(key) == SIGNATURE_PARAMETER and signature is None:
            signature = unquote(value)
        else:
            kept.append(pair)
    return Target(urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), "")), signature)


class Destinations:
    """Creates, updates and deletes a channel's connection and API destination."""

    def __init__(self, events: Any, secretsmanager: Any, sleep: Callable[[float], None] = time.sleep) -> None:
        self.events = events
        self.secretsmanager = secretsmanager
        self.sleep = sleep

    def target(self, channel: Channel) -> Target:
        value = self.secretsmanager.get_secret_value(SecretId=channel.secret_id).get("SecretString", "")
        return target_for(channel.channel, value)

    def ensure(self, channel: Channel) -> dict[str, str]:
        """Make both resources match the secret now; returns their ARNs and whether a URL is set."""
        target = self.target(channel)
        parameters = [{"Key": SIGNATURE_PARAMETER, "Value": target.signature, "IsValueSecret": True}]
        invocation = {"QueryStringParameters": parameters if target.signature is not None else []}
        existing = self._describe(self.events.describe_connection, channel.name)
        if existing is None:
            auth = {
                "ApiKeyAuthParameters": {"ApiKeyName": API_KEY_HEADER, "ApiKeyValue": secrets.token_urlsafe(32)},
                "InvocationHttpParameters": invocation,
            }
            connection = self.events.create_connection(
                Name=channel.name, Description=channel.description, AuthorizationType="API_KEY", AuthParameters=auth
            )
        else:
            connection = self.events.update_connection(
                Name=channel.name,
                Description=channel.description,
                AuthorizationType="API_KEY",
                AuthParameters={"InvocationHttpParameters": invocation},
            )
        connection_arn = connection["ConnectionArn"]
        secret_arn = self._wait_until_authorized(channel.name)
        destination = {
            "Name": channel.name,
            "Description": channel.description,
            "ConnectionArn": connection_arn,
            "InvocationEndpoint": target.endpoint,
            "HttpMethod": "POST",
            "InvocationRateLimitPerSecond": channel.rate_limit_per_second,
        }
        if self._describe(self.events.describe_api_destination, channel.name) is None:
            arn = self.events.create_api_destination(**destination)["ApiDestinationArn"]
        else:
            arn = self.events.update_api_destination(**destination)["ApiDestinationArn"]
        logger.info(
            "api destination matches its secret",
            channel=channel.channel,
            destination=channel.name,
            configured=target.configured,
            host=urlsplit(target.endpoint).hostname,
        )
        return {
            "Arn": arn,
            "ConnectionArn": connection_arn,
            "ConnectionSecretArn": secret_arn,
            "Configured": str(target.configured).lower(),
        }

    def delete(self, name: str) -> None:
        """Remove the destination, then its connection; what is gone already is not an error."""
        for delete in (self.events.delete_api_destination, self.events.delete_connection):
            with contextlib.suppress(self.events.exceptions.ResourceNotFoundException):
                delete(Name=name)
        logger.info("api destination deleted", destination=name)

    def _describe(self, describe: Callable[..., dict[str, Any]], name: str) -> dict[str, Any] | None:
        try:
            return describe(Name=name)
        except self.events.exceptions.ResourceNotFoundException:
            return None

    def _wait_until_authorized(self, name: str) -> str:
        """API-key connections authorize within seconds; the destination works once they have."""
        deadline = AUTHORIZED_WAIT_SECONDS
        while True:
            described = self.events.describe_connection(Name=name)
            state = described.get("ConnectionState")
            if state == "AUTHORIZED" or deadline <= 0:
                if state != "AUTHORIZED":
                    logger.warning("connection not authorized yet", destination=name, state=state)
                return str(described.get("SecretArn", ""))
            if state in ("DEAUTHORIZED", "FAILED"):
                raise RuntimeError(f"connection {name} is {state}: {described.get('StateReason', '')}")
            self.sleep(2)
            deadline -= 2


def on_event(raw: dict[str, Any], destinations: Destinations) -> dict[str, Any]:
    """One CloudFormation request, as aws-cdk-lib's provider framework hands it over."""
    event = CloudFormationCustomResourceEvent(raw)
    request = event.get("RequestType")  # a direct call without "sync" gets the ValueError below
    if request == "Delete":
        destinations.delete(event.physical_resource_id)
        return {"PhysicalResourceId": event.physical_resource_id}
    if request not in ("Create", "Update"):
        raise ValueError(f"unknown RequestType {request!r}")
    channel = Channel.from_properties(event.resource_properties)
    # A new Name gives a new physical id: CloudFormation then deletes the old pair.
    return {"PhysicalResourceId": channel.name, "Data": destinations.ensure(channel)}


def sync(
    requested: list[str], configured: Mapping[str, Mapping[str, Any]], destinations: Destinations
) -> dict[str, Any]:
    """Re-read the named channels' secrets (all, for an empty list) and update their destinations."""
    unknown = sorted(set(requested) - set(configured))
    if unknown:
        raise ValueError(f"not api_destination channels of this platform: {', '.join(unknown)}")
    result = {}
    for name in requested or sorted(configured):
        data = destinations.ensure(Channel.from_properties(configured[name]))
        result[name] = "configured" if data["Configured"] == "true" else "not configured (no https URL in the secret)"
    return {"channels": result}


def _destinations() -> Destinations:
    retries = BotocoreConfig(retries={"mode": "standard", "max_attempts": 5})
    return Destinations(boto3.client("events", config=retries), boto3.client("secretsmanager", config=retries))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "sync" in event:
        return sync(list(event["sync"] or []), json.loads(os.environ["CHANNELS"]), _destinations())
    return on_event(event, _destinations())
