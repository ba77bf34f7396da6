"""Unit tests of the handler, called in-process as Lambda would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import app

EVENTS = Path(__file__).resolve().parent.parent / "events"


class Context:
    aws_request_id = "test-request"


def invoke(event: Any) -> tuple[int, Any]:
    result = app.handler(event, Context())
    assert set(result) == {"statusCode", "body"}
    return result["statusCode"], json.loads(result["body"])


def test_health_answers_exactly_what_the_traffic_hooks_expect() -> None:
    assert app.handler({"path": "/health"}, None) == {"statusCode": 200, "body": '{"status":"ok"}'}


def test_quote() -> None:
    status, body = invoke(json.loads((EVENTS / "quote.json").read_text()))
    assert status == 200
    assert body["currency"] == "EUR"
    assert [line["amount"] for line in body["lines"]] == ["25.00", "19.90"]
    # 10 pens are a bulk line: 5 % off 19.90 is 0.995, rounded half up to 1.00.
    assert [line["discount"] for line in body["lines"]] == ["0.00", "1.00"]
    assert (body["subtotal"], body["discount"], body["total"]) == ("44.90", "1.00", "43.90")


def test_quote_from_an_api_gateway_body() -> None:
    event = {"rawPath": "/quote", "body": json.dumps({"items": [{"sku": "A", "quantity": 3, "unit_price": 0.5}]})}
    status, body = invoke(event)
    assert status == 200
    assert body["total"] == "1.50"


def test_currency_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CURRENCY", "USD")
    _, body = invoke({"path": "/quote", "items": [{"sku": "A", "quantity": 1, "unit_price": "1"}]})
    assert body["currency"] == "USD"


def item(**overrides: Any) -> dict[str, Any]:
    return {"sku": "A", "quantity": 1, "unit_price": "1.00", **overrides}


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"path": "/quote"}, "non-empty list"),
        ({"path": "/quote", "items": []}, "non-empty list"),
        ({"path": "/quote", "items": "A"}, "non-empty list"),
        ({"path": "/quote", "items": [item()] * 101}, "at most 100"),
        ({"path": "/quote", "items": ["A"]}, "must be an object"),
        ({"path": "/quote", "items": [item(sku="")]}, "sku"),
        ({"path": "/quote", "items": [item(quantity=0)]}, "quantity"),
        ({"path": "/quote", "items": [item(quantity=1.5)]}, "quantity"),
        ({"path": "/quote", "items": [item(quantity=True)]}, "quantity"),
        ({"path": "/quote", "items": [item(unit_price="abc")]}, "not a number"),
        ({"path": "/quote", "items": [item(unit_price="-1")]}, "between"),
        ({"path": "/quote", "items": [item(unit_price="NaN")]}, "between"),
        ({"path": "/quote", "items": [item(unit_price="1.005")]}, "two decimals"),
        ({"path": "/quote", "items": [item(unit_price=None)]}, "decimal string"),
        ({"path": "/quote", "body": "{nope"}, "not valid JSON"),
    ],
)
def test_bad_quotes_are_400(event: dict[str, Any], message: str) -> None:
    status, body = invoke(event)
    assert status == 400
    assert message in body["error"]


def test_unknown_path_is_404() -> None:
    status, _ = invoke({"path": "/nope"})
    assert status == 404


def test_event_must_be_an_object() -> None:
    status, _ = invoke(["/health"])
    assert status == 400
