"""Flask CLI commands: ``flask --app wsgi users|demo|migrate|pii ...``.

Every command exits non-zero with a one-line message on bad input; none prints a secret except the
generated staff passwords of ``demo load``, which are shown once.
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from app.errors import DomainError
from app.models.user import ROLES
from app.services import audit

users_cli = AppGroup("users", help="Manage accounts.")
demo_cli = AppGroup("demo", help="Demo data for development.")
pii_cli = AppGroup("pii", help="Sensitive-data encryption keys.")

CLI_ACTOR = audit.Actor(id="cli", email=None, role="admin")


def _fail(message: str) -> None:
    raise click.ClickException(message)


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default="user", show_default=True)
@click.option("--name", default=None, help="Display name (default: the part of the e-mail before @).")
@click.option("--password", default=None, help="Prompted for (hidden) when absent.")
def create_user_command(email: str, role: str, name: str | None, password: str | None) -> None:
    """Create an account, e.g. the first admin."""
    from app.services.users import create_user

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(email, role=role, password=password, name=name, actor=CLI_ACTOR)
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(f"Created {user.role} {user.email} ({user.pk})")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
def set_role_command(email: str, role: str) -> None:
    """Change an account's role."""
    from app.services.users import get_by_email, set_role

    try:
        user = set_role(get_by_email(email), role, actor=CLI_ACTOR)
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(f"{user.email} is now {user.role}")


@users_cli.command("deactivate")
@click.argument("email")
def deactivate_command(email: str) -> None:
    """Deactivate an account: its sessions and tokens stop working at once."""
    from app.services.users import deactivate, get_by_email

    try:
        user = deactivate(get_by_email(email), actor=CLI_ACTOR)
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(f"{user.email} is deactivated")


@users_cli.command("reactivate")
@click.argument("email")
def reactivate_command(email: str) -> None:
    """Reactivate a deactivated account."""
    from app.services.users import get_by_email, reactivate

    try:
        user = reactivate(get_by_email(email), actor=CLI_ACTOR)
    except DomainError as exc:
        _fail(exc.detail)
    click.echo(f"{user.email} is active")


@click.command("migrate")
def migrate_command() -> None:
    """Apply pending data migrations and create missing indexes (safe to run again)."""
    from app.db import get_db
    from app.migrations_runner import apply_pending

    report = apply_pending(get_db(), echo=click.echo)
    click.echo(f"Migrations applied: {len(report.applied)}; indexes created: {len(report.indexes_created)}")


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds lots or users.")
def demo_load_command(if_empty: bool) -> None:
    """Load demo lots, customers, applications, reservations and one staff account per role."""
    from app.services.demo import load_demo_data

    result = load_demo_data(only_if_empty=if_empty)
    if result is None:
        click.echo("Database is not empty; demo data not loaded.")
        return
    click.echo(
        f"Loaded {result.lots} lots, {result.customers} customers, {result.applications} applications, "
        f"{result.reservations} reservations."
    )
    click.echo("Staff accounts (passwords are shown only now; sign in at /admin):")
    for email, role, password in result.staff:
        click.echo(f"  {role:<16} {email:<32} {password}")


@pii_cli.command("rotate")
def pii_rotate_command() -> None:
    """Re-encrypt every sensitive value and private document with the active key."""
    from app.services.pii_rotation import rotate_all

    counts = rotate_all()
    for name, count in counts.items():
        click.echo(f"{name}: {count} re-encrypted")


def register_cli(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(pii_cli)
    app.cli.add_command(migrate_command)
    __import__("app.cli_ops", fromlist=["register_ops_cli"]).register_ops_cli(app)  # backup, import-legacy
