"""The Lambda template's handler, called in-process as Lambda calls it ("app.handler")."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TEMPLATE = Path(__file__).resolve().parents[2] / "service_templates" / "lambda"


@pytest.fixture(scope="module")
def app() -> ModuleType:
    """src/app.py, loaded under a unique name and without writing __pycache__ into the template."""
    spec = importlib.util.spec_from_file_location("service_template_lambda_app", TEMPLATE / "src" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


def invoke(app: ModuleType, event: Any) -> tuple[int, Any]:
    result = app.handler(event, None)
    return result["statusCode"], json.loads(result["body"])


def test_health(app: ModuleType) -> None:
    assert app.handler({"path": "/health"}, None) == {"statusCode": 200, "body": '{"status":"ok"}'}


def test_quote(app: ModuleType) -> None:
    event = {
        "path": "/quote",
        "items": [
            {"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"},
            {"sku": "PEN-7", "quantity": 10, "unit_price": "1.99"},
        ],
    }
    status, body = invoke(app, event)
    assert status == 200
    assert body["lines"][0] == {
        "sku": "BOOK-1",
        "quantity": 2,
        "unit_price": "12.50",
        "amount": "25.00",
        "discount": "0.00",
    }
    assert (body["subtotal"], body["discount"], body["total"]) == ("44.90", "1.00", "43.90")


@pytest.mark.parametrize(
    "event",
    [
        {"path": "/quote"},
        {"path": "/quote", "items": []},
        {"path": "/quote", "items": [{"sku": "A", "quantity": -1, "unit_price": "1.00"}]},
        {"path": "/quote", "items": [{"sku": "A", "quantity": 1, "unit_price": "cheap"}]},
        {"path": "/quote", "body": "not json"},
    ],
)
def test_bad_input_is_400(app: ModuleType, event: dict[str, Any]) -> None:
    status, body = invoke(app, event)
    assert status == 400
    assert body["error"]


@pytest.mark.parametrize("path", sorted((TEMPLATE / "events").glob("*.json")), ids=lambda p: p.name)
def test_sample_events_answer_200(app: ModuleType, path: Path) -> None:
    status, _ = invoke(app, json.loads(path.read_text(encoding="utf-8")))
    assert status == 200
