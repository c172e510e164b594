"""The OpenAPI 3.1 document (``/api/openapi.json``) and a self-contained docs page (``/api/docs``).

Both are generated from the route registry (``public_api.routing.ROUTES``) and the very pydantic models the
routes validate with, so the documentation cannot drift from the validation. The docs page is plain HTML
rendered on the server, with no script and nothing loaded from a CDN.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from flask import Response, current_app, jsonify
from markupsafe import Markup
from pydantic import BaseModel, TypeAdapter

from public_api.routing import ROUTES, RouteSpec, api_route
from public_api.schemas import ErrorResponse

REF_TEMPLATE = "#/components/schemas/{model}"
TAG_ORDER = (
    "Service",
    "Catalogue",
    "Auth",
    "Profile",
    "Applications",
    "Pickup",
    "Documents",
    "Reservations",
    "Alerts",
    "Appointments",
    "Forms",
)


class _Schemas:
    """Collects component schemas while operations reference them."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, annotation: Any, mode: str = "serialization") -> dict[str, Any]:
        schema = TypeAdapter(annotation).json_schema(ref_template=REF_TEMPLATE, mode=mode)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            self.components[annotation.__name__] = schema
            return {"$ref": REF_TEMPLATE.format(model=annotation.__name__)}
        return schema


def _parameters(route: RouteSpec, schemas: _Schemas) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.path_params
    ]
    if route.params is not None and route.source in ("query", "both"):
        model_schema = route.params.model_json_schema(ref_template=REF_TEMPLATE, mode="validation")
        schemas.components.update(model_schema.pop("$defs", {}))
        required = set(model_schema.get("required", []))
        for name, field_schema in model_schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required and route.source == "query",
                    "schema": field_schema,
                }
            )
    return parameters


def _request_body(route: RouteSpec, schemas: _Schemas) -> dict[str, Any] | None:
    if route.request_content == "multipart/form-data":
        return {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "doc_type"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "doc_type": {
                                "type": "string",
                                "enum": [
                                    "drivers_license",
                                    "paystub",
                                    "proof_of_address",
                                    "insurance",
                                    "other",
                                ],
                            },
                            "application_id": {"type": "string"},
                        },
                    }
                }
            },
        }
    if route.params is None or route.source == "query":
        return None
    return {
        "required": route.source == "json" and bool(route.params.model_json_schema().get("required")),
        "content": {"application/json": {"schema": schemas.ref(route.params, mode="validation")}},
    }


def _responses(route: RouteSpec, schemas: _Schemas) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": "Success"}
    if route.response_content != "application/json":
        success["content"] = {route.response_content: {"schema": {"type": "string", "format": "binary"}}}
    elif route.response is not None:
        success["content"] = {"application/json": {"schema": schemas.ref(route.response)}}
    responses[str(route.response_status)] = success
    error_ref = schemas.ref(ErrorResponse)
    for status, details in sorted(route.errors.items()):
        responses[str(status)] = {
            "description": " | ".join(details),
            "content": {"application/json": {"schema": error_ref, "example": {"detail": details[0]}}},
        }
    return responses


def _operation(route: RouteSpec, schemas: _Schemas) -> dict[str, Any]:
    description = route.description
    if route.limits:
        description += (
            "\n\nRate limits: " + "; ".join(limit.description or limit.value for limit in route.limits) + "."
        )
    operation: dict[str, Any] = {
        "operationId": route.endpoint,
        "summary": route.summary,
        "description": description.strip(),
        "tags": list(route.tags),
        "parameters": _parameters(route, schemas),
        "responses": _responses(route, schemas),
    }
    body = _request_body(route, schemas)
    if body is not None:
        operation["requestBody"] = body
    if route.auth == "bearer":
        operation["security"] = [{"bearerAuth": []}]
    elif route.auth in ("optional", "refresh"):
        operation["security"] = [{"bearerAuth": []}, {}]
    return operation


@lru_cache(maxsize=4)
def _build(version: str) -> dict[str, Any]:
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        for method in route.methods:
            paths.setdefault(route.openapi_path, {})[method.lower()] = _operation(route, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cargwin consumer API",
            "version": version,
            "description": (
                "The JSON API the Cargwin consumer site calls. Every error is JSON "
                '`{"detail": "<sentence>"}`; ids are strings; money is a JSON number; datetimes are UTC ISO 8601.'
            ),
        },
        "tags": [{"name": tag} for tag in TAG_ORDER],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.components.items())),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }


def document() -> dict[str, Any]:
    """The OpenAPI document of every registered route."""
    return _build(current_app.config["VERSION"])


# --------------------------------------------------------------------------------------------------------
# Docs page

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px} h2{margin-top:40px;border-bottom:2px solid #d7dbe2;padding-bottom:4px}
.op{background:#fff;border:1px solid #d7dbe2;border-radius:8px;margin:14px 0;padding:12px 16px}
.op summary{cursor:pointer;list-style:none;display:flex;gap:12px;align-items:baseline}
.m{font:600 12px monospace;padding:3px 8px;border-radius:4px;color:#fff;min-width:56px;text-align:center}
.GET{background:#2f6fb3}.POST{background:#2e8b57}.PUT{background:#b8860b}.DELETE{background:#b03a2e}.PATCH{background:#6a4fb3}
code,pre{font-family:ui-monospace,monospace;font-size:13px} pre{background:#f1f3f6;padding:10px;overflow:auto;border-radius:6px}
table{border-collapse:collapse;width:100%} td,th{border-top:1px solid #e3e6eb;padding:4px 8px;text-align:left;vertical-align:top}
.lock{color:#8a5a00;font-size:13px}
"""


def _schema_block(schema: dict[str, Any]) -> Markup:
    return Markup("<pre>{}</pre>").format(json.dumps(schema, indent=2, ensure_ascii=False))


def render_docs(doc: dict[str, Any]) -> str:
    """The whole documentation as one HTML page."""
    parts: list[Markup] = [
        Markup(
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{}</title><style>{}</style></head><body><main>"
        ).format(doc["info"]["title"], Markup(_STYLE)),
        Markup(
            "<h1>{}</h1><p>{}</p><p>Machine-readable: <a href='/api/openapi.json'>/api/openapi.json</a></p>"
        ).format(doc["info"]["title"], doc["info"]["description"]),
    ]
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            by_tag.setdefault(operation["tags"][0], []).append((path, method.upper(), operation))
    for tag in [t["name"] for t in doc["tags"]] + sorted(set(by_tag) - set(TAG_ORDER)):
        if tag not in by_tag:
            continue
        parts.append(Markup("<h2 id='{0}'>{0}</h2>").format(tag))
        for path, method, operation in by_tag[tag]:
            lock = (
                Markup(" <span class='lock'>Bearer token</span>")
                if operation.get("security") == [{"bearerAuth": []}]
                else ""
            )
            parts.append(
                Markup(
                    "<details class='op'><summary><span class='m {0}'>{0}</span><code>{1}</code> {2}{3}</summary>"
                ).format(method, path, operation["summary"], lock)
            )
            if operation.get("description"):
                parts.append(Markup("<p>{}</p>").format(operation["description"]))
            if operation["parameters"]:
                rows = Markup("").join(
                    Markup("<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>").format(
                        p["name"], p["in"], "required" if p.get("required") else "optional"
                    )
                    for p in operation["parameters"]
                )
                parts.append(Markup("<h4>Parameters</h4><table>{}</table>").format(rows))
            body = operation.get("requestBody")
            if body:
                for content_type, content in body["content"].items():
                    parts.append(Markup("<h4>Request body ({})</h4>").format(content_type))
                    parts.append(_schema_block(content["schema"]))
            rows = Markup("").join(
                Markup("<tr><td><code>{}</code></td><td>{}</td></tr>").format(status, response["description"])
                for status, response in operation["responses"].items()
            )
            parts.append(Markup("<h4>Responses</h4><table>{}</table>").format(rows))
            success = next(iter(operation["responses"].values()))
            for content in success.get("content", {}).values():
                parts.append(_schema_block(content["schema"]))
            parts.append(Markup("</details>"))
    parts.append(Markup("<h2 id='schemas'>Schemas</h2>"))
    for name, schema in doc["components"]["schemas"].items():
        parts.append(Markup("<h3 id='{0}'>{0}</h3>").format(name))
        parts.append(_schema_block(schema))
    parts.append(Markup("</main></body></html>"))
    return str(Markup("").join(parts))


@api_route("/openapi.json", summary="OpenAPI document", tags=["Service"], documented=False)
def openapi_json() -> Response:
    return jsonify(document())


@api_route("/docs", summary="API documentation", tags=["Service"], documented=False)
def docs_page() -> Response:
    response = Response(render_docs(document()), mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
