"""Serialise the test Glance's sqlite transactions (BEGIN IMMEDIATE), so that parallel
uploads do not fail with "database is locked". oslo.db checks conn.info['in_transaction']
before emitting its own BEGIN; setting it keeps the two from colliding."""

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine


def _connect(dbapi_connection, _record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout = 60000")


def _begin(conn):
    if conn.dialect.name == "sqlite" and "in_transaction" not in conn.info:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        conn.info["in_transaction"] = True


def _end(conn):
    conn.info.pop("in_transaction", None)


def install():
    event.listen(Engine, "connect", _connect)
    event.listen(Engine, "begin", _begin)
    event.listen(Engine, "commit", _end)
    event.listen(Engine, "rollback", _end)
