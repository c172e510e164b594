"""Database and Redis connections.

MongoEngine is registered lazily (``connect=False``): no client exists until the first query, so the RQ
worker's parent process, which forks for every job, never holds a MongoClient across a fork.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import mongoengine
import redis
from flask import Flask, current_app
from mongoengine.connection import get_db as _get_db
from pymongo.database import Database

from app.embedded import embedded_mongodb, embedded_redis

MONGO_CLIENT_OPTIONS = {
    "tz_aware": True,
    "uuidRepresentation": "standard",
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
    "connect": False,
    "appname": "cargwin",
}


def database_name(uri: str, default: str) -> str:
    path = urlparse(uri).path.lstrip("/")
    return path or default


def resolve_service_urls(app: Flask) -> None:
    """Fill ``MONGODB_URI`` / ``REDIS_URL`` from the embedded servers when they are not configured."""
    var_dir = Path(app.config["VAR_DIR"])
    if not app.config.get("MONGODB_URI"):
        app.config["MONGODB_URI"] = embedded_mongodb(var_dir).ensure()
        app.config["EMBEDDED_MONGODB"] = True
    if not app.config.get("REDIS_URL"):
        app.config["REDIS_URL"] = embedded_redis(var_dir).ensure()
        app.config["EMBEDDED_REDIS"] = True


def init_db(app: Flask) -> None:
    uri = app.config["MONGODB_URI"]
    name = database_name(uri, app.config["MONGODB_DB"])
    app.config["MONGODB_DB"] = name
    connect_mongo(uri, name)
    app.extensions["redis"] = redis.Redis.from_url(
        app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5, health_check_interval=30
    )


_registered_target: tuple[str, str] | None = None


def connect_mongo(uri: str, name: str) -> None:
    """(Re)register the default MongoEngine connection; a different target replaces the old one."""
    global _registered_target
    if _registered_target == (uri, name):
        return
    mongoengine.disconnect("default")
    mongoengine.register_connection("default", name=name, host=uri, **MONGO_CLIENT_OPTIONS)
    _registered_target = (uri, name)


def reset_after_fork() -> None:
    """Forget any client inherited from a parent process; the next query opens a fresh one.

    The inherited client is dropped, not closed: closing it would talk to the server over sockets the
    parent still uses. Documents cache their collection (and through it the client), so those go too.
    """
    from app.models import ALL_DOCUMENTS

    mongoengine.connection._connections.pop("default", None)
    mongoengine.connection._dbs.pop("default", None)
    for document in ALL_DOCUMENTS:
        document._collection = None


def get_db() -> Database:
    """The raw pymongo database (migrations, backups, health checks)."""
    return _get_db("default")


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]
