"""Request parsing: one place that reads JSON bodies and query strings and validates them with pydantic.

* The JSON body is optional wherever the contract allows a ``null`` body; an empty body, ``null`` or a
  form/multipart body count as "no JSON". Malformed JSON (including ``NaN`` and absurd nesting) is
  ``400 Malformed JSON body``; a body that is not an object is a 422.
* Query strings: each field of the model is read by name; list fields take every repeated value.
* Where both are accepted, the JSON body wins over the query string (consumer-api §1.2).
* Unknown keys are ignored. Strings never accept objects or arrays, so ``{"$ne": null}`` cannot reach a
  query; numbers and booleans accept their string forms (``"720"``, ``true/false/1/0``).
* A validation failure is ``422`` with one readable sentence naming the field; the contract's own wording
  is used where it gives one (``ApiModel.error_messages`` or a validator's message).
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_args, get_origin

from flask import g, request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError
from pydantic_core import PydanticCustomError
from werkzeug.exceptions import BadRequest

from app.errors import ValidationFailed

MALFORMED_JSON = "Malformed JSON body"
NOT_AN_OBJECT = "Request body must be a JSON object"

Source = Literal["json", "query", "both"]
M = TypeVar("M", bound="ApiModel")


class MalformedJson(BadRequest):
    """400 with the contract's sentence (the envelope shows a description that differs from the default)."""

    def __init__(self) -> None:
        super().__init__(description=MALFORMED_JSON)


class ApiModel(BaseModel):
    """Base of every request model: unknown keys ignored, messages per field where the contract has them."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    #: field name → the sentence used for any type or range failure of that field.
    error_messages: ClassVar[dict[str, str]] = {}


# --------------------------------------------------------------------------------------------------------
# Lenient scalar types: JSON numbers and their string forms, never booleans, objects or arrays.

_INTEGER_TEXT = re.compile(r"\s*[-+]?\d+\s*")


def as_int(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise PydanticCustomError("int_type", "must be an integer")


def as_decimal(value: Any) -> Any:
    """A finite ``Decimal`` from a JSON number or its text; ``PydanticCustomError`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise PydanticCustomError("decimal_type", "must be a number")
    try:
        number = (
            Decimal(value.strip())
            if isinstance(value, str)
            else Decimal(repr(value) if isinstance(value, float) else value)
        )
    except InvalidOperation:
        raise PydanticCustomError("decimal_type", "must be a number") from None
    if not number.is_finite():
        raise PydanticCustomError("decimal_type", "must be a number")
    return number


Int = Annotated[int, BeforeValidator(as_int)]
Number = Annotated[Decimal, BeforeValidator(as_decimal)]
Text = Annotated[str, Strict()]


def int_field(**constraints: Any) -> Any:
    """An integer with ``Field`` constraints (``ge``, ``le``...), which also appear in the JSON schema."""
    return Annotated[int, Field(**constraints), BeforeValidator(as_int)]


def number_field(**constraints: Any) -> Any:
    """A decimal number with ``Field`` constraints, which also appear in the JSON schema."""
    return Annotated[Decimal, Field(**constraints), BeforeValidator(as_decimal)]


# --------------------------------------------------------------------------------------------------------
# Reading


def _reject_constant(name: str) -> Any:
    raise ValueError(f"JSON constant {name} is not allowed")


def json_body() -> dict[str, Any] | None:
    """The request's JSON object, or None when there is none. Parsed once per request."""
    if "api_json_body" in g:
        return g.api_json_body
    body: dict[str, Any] | None = None
    if request.mimetype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raw = request.get_data(cache=True)
        if raw and raw.strip():
            try:
                value = json.loads(raw, parse_constant=_reject_constant)
            except (ValueError, UnicodeDecodeError, RecursionError):
                raise MalformedJson() from None
            if value is not None and not isinstance(value, dict):
                raise ValidationFailed(NOT_AN_OBJECT)
            body = value
    g.api_json_body = body
    return body


def json_body_or_empty() -> dict[str, Any]:
    """Like :func:`json_body`, but a malformed or non-object body counts as empty (for endpoints that must
    always succeed, such as logout)."""
    try:
        return json_body() or {}
    except (MalformedJson, ValidationFailed):
        g.api_json_body = None
        return {}


def _is_list(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_list(arg) for arg in get_args(annotation))
    if origin is Annotated:
        return _is_list(get_args(annotation)[0])
    return False


def query_values(model: type[ApiModel]) -> dict[str, Any]:
    """The model's fields present in the query string (lists take every repeated value)."""
    values: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        if key not in request.args:
            continue
        values[key] = request.args.getlist(key) if _is_list(field.annotation) else request.args.get(key)
    return values


# --------------------------------------------------------------------------------------------------------
# Errors

_RANGE_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _describe(model: type[ApiModel], error: dict[str, Any]) -> str:
    loc = [part for part in error.get("loc", ()) if not isinstance(part, int)]
    field = str(loc[0]) if loc else "body"
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    name = ".".join(str(part) for part in loc) or "body"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])  # a validator's own sentence, written to name its field
    if kind == "missing":
        return f"{name} is required"
    if field in model.error_messages:
        return model.error_messages[field]
    if kind in ("string_type", "str_type"):
        return f"{name} must be a string"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{name} must be an integer"
    if kind in ("decimal_type", "decimal_parsing", "float_type", "float_parsing", "finite_number"):
        return f"{name} must be a number"
    if kind in ("bool_type", "bool_parsing"):
        return f"{name} must be true or false"
    if kind in ("list_type", "tuple_type", "set_type"):
        return f"{name} must be a list"
    if kind == "string_too_short":
        return (
            f"{name} must not be empty"
            if ctx.get("min_length", 1) <= 1
            else f"{name} must be at least {ctx['min_length']} characters"
        )
    if kind == "string_too_long":
        return f"{name} must be at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"{name} must have at most {ctx.get('max_length')} items"
    if kind == "too_short":
        return f"{name} must have at least {ctx.get('min_length')} items"
    if kind in _RANGE_TYPES:
        bound = next(iter(ctx.values()), None)
        words = {
            "greater_than": "greater than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        return f"{name} must be {words} {bound}"
    if kind in ("literal_error", "enum"):
        expected = ctx.get("expected", "")
        return f"{name} must be one of: {expected.replace(' or ', ', ').replace(chr(39), '')}"
    if kind in ("decimal_max_places", "decimal_max_digits"):
        return f"{name} must have at most {ctx.get('decimal_places', 2)} decimal places"
    return f"{name} is invalid"


def validation_message(model: type[ApiModel], exc: ValidationError) -> str:
    """The sentence for the first failing field, in the model's field order."""
    errors = exc.errors(include_url=False)
    return _describe(model, errors[0]) if errors else "Validation failed"


def validate(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(validation_message(model, exc)) from None


def parse(model: type[M], source: Source = "json") -> M:
    """Read and validate the request's parameters from ``source`` (``both``: query, overridden by JSON)."""
    data: dict[str, Any] = {}
    if source in ("query", "both"):
        data.update(query_values(model))
    if source in ("json", "both"):
        data.update(json_body() or {})
    return validate(model, data)
