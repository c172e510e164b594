"""Create every collection's indexes, including the unique and partial unique ones the rules rely on.

Why: uniqueness of slugs and e-mails, one active reservation per user and lot, one open application per user
and lot, single-booking of pickup slots and the TTL of preview and magic-link tokens are all enforced by the
database, so they must exist before the first request.
"""

from pymongo.database import Database

from app.migrations_runner import ensure_declared_indexes


def migrate(db: Database) -> None:
    ensure_declared_indexes(db)
