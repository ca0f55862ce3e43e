"""How a request's transaction ends: read-only ones commit, the rest roll back unless committed.

Flask-SQLAlchemy ends every request by closing the session, which rolls its transaction
back. For a transaction that only read, a rollback and a commit do the same thing, but on
PostgreSQL they cost differently: psycopg forgets every prepared statement of the
connection on each ``ROLLBACK`` (the rolled-back transaction might have dropped what they
refer to), so a page's queries were planned afresh on every request and never reached
psycopg's prepare threshold. The pack page's one query takes about a millisecond to plan
and a fifth of that to run once prepared (docs/benchmarks.md, "Launch day").

So each connection remembers whether its current transaction sent anything but a
``SELECT`` (:func:`_note_statement`), and at the end of a request a transaction that did
not, with nothing waiting in the session, is committed instead. Whatever wrote and was not
committed by its view (an ``abort()`` after a flush, an error half way) is still rolled
back by the session's close, as before.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction

from shop.extensions import db

log = logging.getLogger(__name__)

#: ``Connection.info`` key: the current transaction sent a statement other than a SELECT.
WROTE = "shop.transaction_wrote"
#: ``Session.info`` key: the connections the session's current transaction uses.
CONNECTIONS = "shop.transaction_connections"


def _is_read(statement: str) -> bool:
    return statement.lstrip()[:6].upper() == "SELECT"


@event.listens_for(Engine, "before_cursor_execute")
def _note_statement(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
                    executemany: bool) -> None:
    if not _is_read(statement):
        conn.info[WROTE] = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_ended(conn: Connection) -> None:
    conn.info.pop(WROTE, None)


@event.listens_for(Session, "after_begin")
def _connection_joined(session: Session, transaction: SessionTransaction, connection: Connection) -> None:
    session.info.setdefault(CONNECTIONS, []).append(connection)


@event.listens_for(Session, "after_transaction_end")
def _session_transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(CONNECTIONS, None)


def end_read_only_transaction() -> None:
    """Commit the session's transaction if it only read; otherwise leave it to be rolled back."""
    session = db.session()
    if not session.in_transaction() or not session.is_active:
        return
    if session.new or session.dirty or session.deleted:
        return
    connections: list[Connection] = session.info.get(CONNECTIONS, [])
    if not connections or any(connection.info.get(WROTE) for connection in connections):
        return
    try:
        session.commit()
    except Exception:  # the close that follows rolls back; the request's answer is already made
        log.warning("could not commit a read-only transaction", exc_info=True)


def register(app: Flask) -> None:
    """Install :func:`end_read_only_transaction` to run before Flask-SQLAlchemy's close of the
    session (teardown functions run in the reverse order of registration)."""
    assert "sqlalchemy" in app.extensions, "register after db.init_app(app)"

    @app.teardown_appcontext
    def _end_transaction(exc: BaseException | None) -> None:
        end_read_only_transaction()
