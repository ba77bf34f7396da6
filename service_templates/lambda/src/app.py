"""Pricing function: a health check and price quotes, behind the alias "live".

Handler: app.handler. Events (direct invocation; API Gateway proxy events work too,
with the items in a JSON body):

    {"path": "/health"}
        -> 200 {"status":"ok"}
    {"path": "/quote", "items": [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50"}]}
        -> 200 {"currency": "EUR", "lines": [...], "subtotal": "25.00", "discount": "0.00", "total": "25.00"}

Quantities of BULK_QUANTITY or more get BULK_DISCOUNT off that line. Prices are
decimal strings (or JSON numbers) with at most two decimals; amounts are rounded half
up to the cent and returned as strings. Bad input answers 400 with {"error": ...}.
Settings: CURRENCY (default EUR), LOG_LEVEL (default INFO).
"""

from __future__ import annotations

import json
import logging
import os
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

LOG = logging.getLogger(__name__)
_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
LOG.setLevel(_LEVEL if _LEVEL in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")

MAX_ITEMS = 100
MAX_QUANTITY = 10_000
MAX_UNIT_PRICE = Decimal("1000000")
BULK_QUANTITY = 10
BULK_DISCOUNT = Decimal("0.05")
CENT = Decimal("0.01")


class InvalidRequestError(ValueError):
    """The event is not a valid request; the message is returned to the caller."""


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": json.dumps(body, separators=(",", ":"))}


def handler(event: Any, context: Any) -> dict[str, Any]:
    request_id = getattr(context, "aws_request_id", "-")
    if not isinstance(event, dict):
        return response(400, {"error": "the event must be a JSON object"})
    path = event.get("path") or event.get("rawPath")
    if path == "/health":
        return response(200, {"status": "ok"})
    if path == "/quote":
        try:
            quote = compute_quote(parse_items(event))
        except InvalidRequestError as exc:
            LOG.info("request %s: bad quote request: %s", request_id, exc)
            return response(400, {"error": str(exc)})
        LOG.info("request %s: quote of %d line(s), total %s", request_id, len(quote["lines"]), quote["total"])
        return response(200, quote)
    return response(404, {"error": f"no route for path {path!r}"})


def parse_items(event: dict[str, Any]) -> list[dict[str, Any]]:
    payload: Any = event
    if "items" not in event and isinstance(event.get("body"), str):
        try:
            payload = json.loads(event["body"])
        except json.JSONDecodeError:
            raise InvalidRequestError("the body is not valid JSON") from None
    items = payload.get("items") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise InvalidRequestError('"items" must be a non-empty list')
    if len(items) > MAX_ITEMS:
        raise InvalidRequestError(f"at most {MAX_ITEMS} items per quote")
    return [parse_item(index, item) for index, item in enumerate(items)]


def parse_item(index: int, item: Any) -> dict[str, Any]:
    where = f"items[{index}]"
    if not isinstance(item, dict):
        raise InvalidRequestError(f"{where} must be an object")
    sku = item.get("sku")
    if not isinstance(sku, str) or not sku.strip() or len(sku) > 64:
        raise InvalidRequestError(f"{where}.sku must be a non-empty string of at most 64 characters")
    quantity = item.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidRequestError(f"{where}.quantity must be an integer from 1 to {MAX_QUANTITY}")
    return {"sku": sku.strip(), "quantity": quantity, "unit_price": parse_price(where, item.get("unit_price"))}


def parse_price(where: str, raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise InvalidRequestError(f'{where}.unit_price must be a decimal string such as "9.99"')
    try:
        price = Decimal(str(raw).strip())
    except InvalidOperation:
        raise InvalidRequestError(f"{where}.unit_price is not a number: {raw!r}") from None
    if not price.is_finite() or price < 0 or price > MAX_UNIT_PRICE:
        raise InvalidRequestError(f"{where}.unit_price must be between 0 and {MAX_UNIT_PRICE}")
    if price != price.quantize(CENT):
        raise InvalidRequestError(f"{where}.unit_price has more than two decimals: {raw!r}")
    return price


def money(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def compute_quote(items: list[dict[str, Any]]) -> dict[str, Any]:
    lines = []
    subtotal = discount = Decimal("0")
    for item in items:
        amount = item["unit_price"] * item["quantity"]
        line_discount = (amount * BULK_DISCOUNT).quantize(CENT, rounding=ROUND_HALF_UP)
        if item["quantity"] < BULK_QUANTITY:
            line_discount = Decimal("0")
        subtotal += amount
        discount += line_discount
        lines.append(
            {
                "sku": item["sku"],
                "quantity": item["quantity"],
                "unit_price": money(item["unit_price"]),
                "amount": money(amount),
                "discount": money(line_discount),
            }
        )
    return {
        "currency": os.environ.get("CURRENCY", "EUR"),
        "lines": lines,
        "subtotal": money(subtotal),
        "discount": money(discount),
        "total": money(subtotal - discount),
    }
