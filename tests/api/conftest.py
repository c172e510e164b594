"""Fixtures for the API tests, and the session-wide guard on personal data.

Every response the app produces while a test in ``tests/api`` runs (test clients, threads, all of them)
passes through :func:`tests.api.helpers.pii_violations`: the test SSN, licence number and date of birth must
never appear in a body or a header, and no JSON body may carry a sensitive key. A test whose requests
produced one fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request, request_finished
from werkzeug.wrappers import Response

from app.models import Lot
from tests.api.helpers import Session, completed_profile, pii_violations, sign_in
from tests.factories import make_lot, make_user


@pytest.fixture(autouse=True)
def _no_personal_data_in_responses(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []
    problems: list[str] = []

    def inspect(sender: Flask, response: Response, **_: Any) -> None:
        seen.append(request.path)
        problems.extend(pii_violations(request.path, response))

    request_finished.connect(inspect, app)
    try:
        yield seen
    finally:
        request_finished.disconnect(inspect, app)
    assert not problems, "\n".join(problems)


@pytest.fixture
def alice(app: Flask) -> Session:
    return sign_in(app, make_user(email="alice@example.com", name="Alice", **completed_profile()))


@pytest.fixture
def bob(app: Flask) -> Session:
    return sign_in(app, make_user(email="bob@example.com", name="Bob", **completed_profile()))


@pytest.fixture
def finance(app: Flask) -> Session:
    return sign_in(app, make_user(role="finance_manager", email="fm@example.com"))


@pytest.fixture
def editor(app: Flask) -> Session:
    return sign_in(app, make_user(role="editor", email="editor@example.com"))


@pytest.fixture
def lot(app: Flask) -> Lot:
    return make_lot(make="Toyota", model="Camry", trim="SE", year=2025, slug="2025-toyota-camry-se")
