"""Programmatic Alembic: upgrade/downgrade the ledger schema given a database URL (no alembic.ini).

URLs are accepted in the form asyncpg uses (``postgresql://…``); migrations run through the sync
psycopg driver, so callers inside an event loop should run these in a thread (``asyncio.to_thread``).
The default target is ``heads``: other packages may add their own branch of revisions (e.g. the audit
schema), and every branch is applied.

Roles (ADR 008): migrations run as the schema owner (``brokerage`` locally, or
``BROKERAGE_DATABASE_OWNER_URL``); every process connects as an application role that is not a
superuser and owns nothing. :func:`grant_app_role` gives that role DML on the owner's tables (existing
and future, through default privileges) and read-only access to ``alembic_version``.
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy (psycopg 3) form of a PostgreSQL URL."""
    for prefix in ("postgresql+asyncpg://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {url.split('://', 1)[0]}://…")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is ConfigParser interpolation syntax; escape it so passwords with '%' survive
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current_revisions(url: str) -> set[str]:
    """The revisions the database is at (one per branch; empty at base)."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config("postgresql://localhost/x")).get_heads())


_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_grants(role: str) -> list[str]:
    """SQL run AS THE OWNER ROLE giving ``role`` what the application needs and nothing more: usage of the
    owner's schemas, SELECT/INSERT/UPDATE/DELETE on their tables, sequences, for existing objects and
    (default privileges) for those later migrations create. No CREATE, no TRUNCATE, no ownership."""
    if not _ROLE_NAME.match(role):
        raise ValueError(f"not a plain role name: {role!r}")
    return [
        f"ALTER DEFAULT PRIVILEGES GRANT USAGE ON SCHEMAS TO {role}",
        f"ALTER DEFAULT PRIVILEGES GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
        f"""DO $grant$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname = 'public'
              OR nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
  LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {role}', s);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {role}', s);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO {role}', s);
  END LOOP;
  IF to_regclass('public.alembic_version') IS NOT NULL THEN
    REVOKE INSERT, UPDATE, DELETE ON public.alembic_version FROM {role};
  END IF;
END
$grant$""",
    ]


def grant_app_role(url: str, role: str) -> bool:
    """Connected as the owner (``url``), grant ``role`` the application's privileges. False (nothing
    done) when the role does not exist or is the owner itself."""
    engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
    try:
        with engine.begin() as connection:
            exists = connection.execute(
                text("SELECT rolname <> current_user FROM pg_roles WHERE rolname = :role"), {"role": role}
            ).scalar()
            if not exists:
                return False
            for statement in app_role_grants(role):
                connection.execute(text(statement))
        return True
    finally:
        engine.dispose()
