"""The CLI: account management with clear errors and non-zero exits on bad input."""

from __future__ import annotations

import pytest

from app.models import AuditLog, User
from app.services.passwords import verify_password
from tests.factories import make_user


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(args=list(args), input=input)

    return invoke


def test_create_admin_with_password(cli):
    result = cli(
        "users", "create", "Boss@Example.com", "--role", "admin", "--password", "a-long-unusual-passphrase"
    )
    assert result.exit_code == 0, result.output
    user = User.objects.get(email="boss@example.com")
    assert user.role == "admin" and verify_password("a-long-unusual-passphrase", user.password_hash)
    assert "a-long-unusual-passphrase" not in result.output
    assert AuditLog.objects(action="user_registered", resource_id=str(user.pk)).count() == 1


def test_create_prompts_for_the_password_when_absent(cli):
    result = cli(
        "users",
        "create",
        "fm@example.com",
        "--role",
        "finance_manager",
        input="another-long-phrase\nanother-long-phrase\n",
    )
    assert result.exit_code == 0, result.output
    assert User.objects.get(email="fm@example.com").role == "finance_manager"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("users", "create", "not-an-email", "--password", "a-long-unusual-passphrase"), "valid e-mail"),
        (("users", "create", "x@example.com", "--password", "short"), "at least 8 characters"),
        (("users", "create", "x@example.com", "--password", "password123"), "too common"),
        (
            (
                "users",
                "create",
                "x@example.com",
                "--role",
                "viewer",
                "--password",
                "a-long-unusual-passphrase",
            ),
            "viewer",
        ),
        (("users", "set-role", "nobody@example.com", "editor"), "No account"),
        (("users", "deactivate", "nobody@example.com"), "No account"),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(cli, args, message):
    result = cli(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_duplicate_email_is_refused(cli):
    make_user(email="taken@example.com")
    result = cli("users", "create", "TAKEN@example.com", "--password", "a-long-unusual-passphrase")
    assert result.exit_code != 0 and "already exists" in result.output


def test_set_role_and_deactivate(cli):
    user = make_user(email="staffer@example.com")
    assert cli("users", "set-role", "staffer@example.com", "editor").exit_code == 0
    user.reload()
    assert user.role == "editor" and user.session_generation == 1
    assert cli("users", "deactivate", "staffer@example.com").exit_code == 0
    user.reload()
    assert not user.is_active and user.deactivated_at is not None
    assert AuditLog.objects(resource_id=str(user.pk), action__in=["role_changed", "deactivated"]).count() == 2


def test_the_last_admin_cannot_be_demoted(cli):
    make_user(email="only-admin@example.com", role="admin")
    result = cli("users", "set-role", "only-admin@example.com", "user")
    assert result.exit_code != 0 and "last admin" in result.output


def test_migrate_command_is_idempotent(cli):
    first = cli("migrate")
    second = cli("migrate")
    assert first.exit_code == 0 and second.exit_code == 0
    assert "Migrations applied: 0; indexes created: 0" in second.output
