"""Unit tests of app/server.py: a real server on a free local port, in a thread."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from app import server as app_server


@pytest.fixture
def base() -> Iterator[tuple[str, int]]:
    info = {"service": "demo", "version": "1.2.3", "environment": "test"}
    srv = app_server.create_server("127.0.0.1", 0, info)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv.server_address[0], srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)


def get(address: tuple[str, int], path: str) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        conn.close()


def test_health(base: tuple[str, int]) -> None:
    status, headers, body = get(base, "/health")
    assert status == 200
    assert body == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"


def test_root_describes_the_service(base: tuple[str, int]) -> None:
    status, _, body = get(base, "/?verbose=1")
    assert status == 200
    assert body == {"service": "demo", "version": "1.2.3", "environment": "test"}


def test_unknown_path_is_404(base: tuple[str, int]) -> None:
    status, _, body = get(base, "/nope")
    assert status == 404
    assert body["path"] == "/nope"


@pytest.mark.parametrize(("raw", "expected"), [(None, 8080), ("", 8080), ("9000", 9000), (" 8081 ", 8081)])
def test_parse_port(raw: str | None, expected: int) -> None:
    assert app_server.parse_port(raw) == expected


@pytest.mark.parametrize("raw", ["http", "0", "65536", "-1"])
def test_parse_port_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="PORT"):
        app_server.parse_port(raw)


def test_service_info_from_environment() -> None:
    env = {"SERVICE_NAME": "storefront", "ENVIRONMENT": "prod", "APP_VERSION": "abc123"}
    assert app_server.service_info(env) == {"service": "storefront", "version": "abc123", "environment": "prod"}


def test_service_info_defaults() -> None:
    info = app_server.service_info({})
    assert info["service"] == "example-service"
    assert info["environment"] == "local"
    assert info["version"]


def test_main_refuses_a_bad_port() -> None:
    assert app_server.main(["--port", "not-a-port"]) == 2
