"""The route registry: one decorator declares an endpoint and everything the docs need to know about it.

``@api_route`` registers the view on the API blueprint and records its method, path, summary, auth mode,
parameter model (and where the parameters come from), response model and documented errors. The wrapper
it installs runs, in order: authentication (``auth="bearer"``), the route's rate limits (so a per-user
limit knows the user), parameter parsing and validation, then the view. The OpenAPI document
(``public_api.openapi``) is generated from the same records and the same pydantic models.

A view receives its path arguments, plus ``params`` (the validated model) when one is declared and
``user`` (the signed-in ``User``) for bearer routes. With ``parse_params=False`` the model is only
documented and the view parses it itself (the lead form checks its honeypot first).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import current_app

from app.extensions import limiter
from public_api import api_blueprint
from public_api.parsing import ApiModel, Source, parse
from public_api.security import authenticate

Auth = Literal["none", "bearer", "optional", "refresh"]


@dataclass(frozen=True)
class RateLimit:
    """One Flask-Limiter limit of a route (``"10/minute"``); ``key_func`` defaults to the client address."""

    value: str
    key_func: Callable[[], str] | None = None
    deduct_when: Callable[[Any], bool] | None = None
    description: str = ""


@dataclass
class RouteSpec:
    rule: str
    methods: tuple[str, ...]
    endpoint: str
    summary: str
    description: str
    tags: tuple[str, ...]
    auth: Auth
    params: type[ApiModel] | None
    source: Source
    response: Any
    response_status: int
    errors: dict[int, Sequence[str]]
    limits: tuple[RateLimit, ...]
    request_content: str | None = None
    response_content: str = "application/json"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def openapi_path(self) -> str:
        """``/api/cars/<slug_or_id>`` → ``/api/cars/{slug_or_id}``."""
        return "/api" + re.sub(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>", r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>", self.rule)


ROUTES: list[RouteSpec] = []

# Every route without limits of its own: 120 per minute per client address and endpoint (consumer-api §1.8).
DEFAULT_LIMITS = (RateLimit("120/minute", description="120 per minute per client address"),)


def api_route(
    rule: str,
    *,
    methods: Sequence[str] = ("GET",),
    summary: str,
    tags: Sequence[str],
    auth: Auth = "none",
    params: type[ApiModel] | None = None,
    source: Source = "json",
    response: Any = None,
    response_status: int = 200,
    errors: dict[int, Sequence[str] | str] | None = None,
    limits: Sequence[RateLimit] | None = None,
    request_content: str | None = None,
    response_content: str = "application/json",
    documented: bool = True,
    parse_params: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare and register one API endpoint (see the module docstring). ``limits=None`` applies
    :data:`DEFAULT_LIMITS`; ``limits=()`` exempts the route (health probes)."""
    route_limits = tuple(DEFAULT_LIMITS if limits is None else limits)

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def parse_and_call(**kwargs: Any) -> Any:
            if params is not None and parse_params:
                kwargs["params"] = parse(params, source)
            return current_app.ensure_sync(view)(**kwargs)

        limited: Callable[..., Any] = parse_and_call
        for limit in reversed(route_limits):
            limited = limiter.limit(limit.value, key_func=limit.key_func, deduct_when=limit.deduct_when)(
                limited
            )

        @functools.wraps(view)
        def endpoint(**kwargs: Any) -> Any:
            if auth == "bearer":
                kwargs["user"] = authenticate()
            return limited(**kwargs)

        api_blueprint.add_url_rule(rule, endpoint=view.__name__, view_func=endpoint, methods=list(methods))
        if documented:
            error_map = {
                status: [texts] if isinstance(texts, str) else list(texts)
                for status, texts in (errors or {}).items()
            }
            ROUTES.append(
                RouteSpec(
                    rule=rule,
                    methods=tuple(m.upper() for m in methods),
                    endpoint=view.__name__,
                    summary=summary,
                    # Docstrings use reST literals; OpenAPI descriptions are Markdown.
                    description=inspect.cleandoc(view.__doc__ or "").replace("``", "`"),
                    tags=tuple(tags),
                    auth=auth,
                    params=params,
                    source=source,
                    response=response,
                    response_status=response_status,
                    errors=error_map,
                    limits=route_limits,
                    request_content=request_content,
                    response_content=response_content,
                )
            )
        return endpoint

    return decorator
