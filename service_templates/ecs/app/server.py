"""A small HTTP service that uses only the Python standard library.

    GET /health  200 {"status": "ok"}
    GET /        200 {"service": ..., "version": ..., "environment": ...}

Settings: PORT (default 8080; the task definition sets it to the container port) and
HOST (default 0.0.0.0) from the environment, or --port/--host on the command line;
SERVICE_NAME, ENVIRONMENT, APP_VERSION (the image build sets it), LOG_LEVEL.

It stops cleanly on SIGTERM (ECS stops tasks with SIGTERM; as PID 1 in the container
the process would otherwise ignore it and be killed after the stop timeout).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

DEFAULT_PORT = 8080
DEFAULT_HOST = "0.0.0.0"
LOG = logging.getLogger("app")


def read_version(environ: Mapping[str, str] = os.environ) -> str:
    """The deployed version: APP_VERSION, else the VERSION file the build writes, else "dev"."""
    version = environ.get("APP_VERSION", "").strip()
    if version:
        return version
    try:
        version = Path(__file__).with_name("VERSION").read_text(encoding="utf-8").strip()
    except OSError:
        version = ""
    return version or "dev"


def parse_port(raw: str | None) -> int:
    """A TCP port from text; empty means the default. ValueError with a clear message otherwise."""
    text = (raw or "").strip() or str(DEFAULT_PORT)
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"PORT must be an integer, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"PORT must be between 1 and 65535, got {port}")
    return port


def service_info(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    return {
        "service": environ.get("SERVICE_NAME") or "example-service",
        "version": read_version(environ),
        "environment": environ.get("ENVIRONMENT") or "local",
    }


class AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], info: dict[str, str]) -> None:
        super().__init__(address, RequestHandler)
        self.info = info


class RequestHandler(BaseHTTPRequestHandler):
    server: AppServer
    server_version = "app/1.0"
    sys_version = ""  # no Python version in the Server header

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self.send_json(HTTPStatus.OK, {"status": "ok"})
        elif path == "/":
            self.send_json(HTTPStatus.OK, self.server.info)
        else:
            self.send_json(HTTPStatus.NOT_FOUND, {"error": "not found", "path": path})

    def send_json(self, status: HTTPStatus, body: Mapping[str, Any]) -> None:
        payload = json.dumps(body, sort_keys=True).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Load balancer health checks arrive every few seconds: keep them out of INFO logs.
        level = logging.DEBUG if self.path == "/health" else logging.INFO
        LOG.log(level, '%s "%s" %s', self.client_address[0], self.requestline, code)

    def log_message(self, format: str, *args: Any) -> None:
        LOG.warning("%s %s", self.client_address[0], format % args)


def create_server(host: str, port: int, info: dict[str, str] | None = None) -> AppServer:
    """A bound server (port 0 picks a free port); call serve_forever() to serve."""
    return AppServer((host, port), service_info() if info is None else info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST") or DEFAULT_HOST)
    parser.add_argument("--port", default=os.environ.get("PORT"), help=f"default: $PORT or {DEFAULT_PORT}")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stdout,
    )
    try:
        port = parse_port(args.port)
        server = create_server(args.host, port)
    except (ValueError, OSError) as exc:
        LOG.error("cannot start: %s", exc)
        return 2

    def stop(signum: int, _frame: FrameType | None) -> None:
        LOG.info("signal %d: shutting down", signum)
        # shutdown() waits for serve_forever() to return, which runs in this (main) thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    LOG.info("%s listening on %s:%d", json.dumps(server.info, sort_keys=True), args.host, server.server_address[1])
    try:
        server.serve_forever()
    finally:
        server.server_close()
    LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
