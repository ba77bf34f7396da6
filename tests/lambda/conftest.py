"""Fixtures the Teams notifier tests share: a real webhook server on 127.0.0.1."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # notifier_helpers

from notifier_helpers import WebhookServer, mocked_aws, webhook_server  # noqa: E402


@pytest.fixture(scope="module")
def shared_server() -> Iterator[WebhookServer]:
    """One local webhook server per test module."""
    with webhook_server() as server:
        yield server


@pytest.fixture
def server(shared_server: WebhookServer) -> Iterator[WebhookServer]:
    """The module's server, its script and records reset, with moto standing in for AWS."""
    shared_server.reset()
    with mocked_aws(shared_server):
        yield shared_server
