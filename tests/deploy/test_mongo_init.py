"""deploy/mongo/init-cargwin.js: the app's MongoDB user may read and insert the audit log, never change it.

No MongoDB server ships in this machine's registries, so the script runs under Node.js against a stand-in
``db`` that records the role and user it is asked to create; the privileges are then evaluated the way
MongoDB does (they only add up: a collection's actions are the union of the database-wide grant and the
grants naming that collection). The collection list is checked against the application's own models.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import DEPLOY_DIR

SCRIPT = DEPLOY_DIR / "mongo" / "init-cargwin.js"
AUDIT = "audit_logs"
CHANGES_DOCUMENTS = {"update", "remove", "dropCollection", "renameCollectionSameDB", "convertToCapped"}
APP_DATA_ACTIONS = {"find", "insert", "update", "remove", "createIndex", "listIndexes"}

# Runs the init script in a fresh context with a recording stand-in for mongosh's ``db`` and ``print``.
HARNESS = r"""
const fs = require("fs");
const vm = require("vm");
const [scriptPath, existingJson] = process.argv.slice(2);
const existing = JSON.parse(existingJson);
const calls = [];
const database = (name) => ({
  getSiblingDB: database,
  getRole: (role) => (existing.roles.includes(role) ? { role } : null),
  getUser: (user) => (existing.users.includes(user) ? { user } : null),
  createRole: (spec) => calls.push({ op: "createRole", db: name, spec }),
  updateRole: (role, spec) => calls.push({ op: "updateRole", db: name, role, spec }),
  createUser: (spec) => calls.push({ op: "createUser", db: name, spec }),
  updateUser: (user, spec) => calls.push({ op: "updateUser", db: name, user, spec }),
});
const context = { db: database("test"), print: () => {}, process: { env: process.env } };
vm.runInNewContext(fs.readFileSync(scriptPath, "utf8"), context, { filename: scriptPath });
console.log(JSON.stringify(calls));
"""


def run_init(
    tmp_path: Path, env: dict[str, str], roles: tuple[str, ...] = (), users: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not found; install it with: apt-get install -y nodejs")
    harness = tmp_path / "harness.js"
    harness.write_text(HARNESS)
    existing = json.dumps({"roles": list(roles), "users": list(users)})
    return subprocess.run(
        [node, str(harness), str(SCRIPT), existing], capture_output=True, text=True, timeout=60, env=env
    )


def calls_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def actions_on(privileges: list[dict[str, Any]], db: str, collection: str) -> set[str]:
    actions: set[str] = set()
    for privilege in privileges:
        resource = privilege["resource"]
        if resource.get("db") in (db, "") and resource.get("collection") in ("", collection):
            actions.update(privilege["actions"])
    return actions


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    env = {"MONGO_APP_DB": "cargwin", "MONGO_APP_USER": "cargwin", "MONGO_APP_PASSWORD": "0123456789abcdef"}
    return calls_of(run_init(tmp_path_factory.mktemp("mongo"), env))


def privileges_from(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    role = next(call for call in calls if call["op"] in ("createRole", "updateRole"))
    return role["spec"]["privileges"]


def test_creates_the_role_then_the_user(first_start: list[dict[str, Any]]) -> None:
    assert [call["op"] for call in first_start] == ["createRole", "createUser"]
    role, user = first_start
    assert role["db"] == "cargwin" and role["spec"]["role"] == "cargwinApp" and role["spec"]["roles"] == []
    assert user["db"] == "cargwin"
    assert user["spec"] == {
        "user": "cargwin",
        "pwd": "0123456789abcdef",
        "roles": [{"role": "cargwinApp", "db": "cargwin"}],
    }


def test_audit_log_is_append_only(first_start: list[dict[str, Any]]) -> None:
    audit = actions_on(privileges_from(first_start), "cargwin", AUDIT)
    assert {"find", "insert", "createIndex", "listIndexes"} <= audit
    assert audit & CHANGES_DOCUMENTS == set()
    # Nothing is granted outside the application database.
    assert {p["resource"]["db"] for p in privileges_from(first_start)} == {"cargwin"}


def test_every_other_model_collection_is_writable(first_start: list[dict[str, Any]]) -> None:
    from app.models import ALL_DOCUMENTS

    privileges = privileges_from(first_start)
    collections = {document._get_collection_name() for document in ALL_DOCUMENTS}
    assert AUDIT in collections
    # The migration runner records applied migrations in its own collection (raw pymongo, not a model).
    for collection in sorted((collections - {AUDIT}) | {"migrations"}):
        missing = APP_DATA_ACTIONS - actions_on(privileges, "cargwin", collection)
        assert missing == set(), f"{collection} lacks {missing}: add it to WRITABLE_COLLECTIONS"


def test_rerunning_updates_instead_of_failing(tmp_path: Path) -> None:
    env = {"MONGO_APP_DB": "cargwin", "MONGO_APP_USER": "cargwin", "MONGO_APP_PASSWORD": "fedcba9876543210"}
    calls = calls_of(run_init(tmp_path, env, roles=("cargwinApp",), users=("cargwin",)))
    assert [call["op"] for call in calls] == ["updateRole", "updateUser"]
    assert calls[1]["spec"]["pwd"] == "fedcba9876543210"


def test_names_come_from_the_environment(tmp_path: Path) -> None:
    env = {
        "MONGO_APP_DB": "cargwin_staging",
        "MONGO_APP_USER": "staging",
        "MONGO_APP_PASSWORD": "0123456789abcdef",
    }
    calls = calls_of(run_init(tmp_path, env))
    assert {call["db"] for call in calls} == {"cargwin_staging"}
    assert calls[1]["spec"]["user"] == "staging"
    assert {p["resource"]["db"] for p in privileges_from(calls)} == {"cargwin_staging"}


def test_refuses_to_run_without_a_password(tmp_path: Path) -> None:
    result = run_init(tmp_path, {"MONGO_APP_DB": "cargwin"})
    assert result.returncode != 0
    assert "MONGO_APP_PASSWORD is not set" in result.stderr
