"""Running jobs inside the Flask application."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import has_app_context

F = TypeVar("F", bound=Callable[..., Any])


def with_app_context(func: F) -> F:
    """Run the job inside an app context: the worker's own when it has one (``flask worker``), otherwise a
    fresh app (a plain ``rq worker`` started without Flask)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_app_context():
            return func(*args, **kwargs)
        from app import create_app

        with create_app().app_context():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
