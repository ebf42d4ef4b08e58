"""The database schema: every table, as one ordered list of migrations per engine, applied by `migrate`.

`MIGRATIONS` is SQLite's list, `POSTGRES_MIGRATIONS` PostgreSQL's: the same tables, columns and meaning
under the same names, in each engine's own dialect.  A migration's name is recorded in `schema_migrations`
once it has run and must never change; a new table or column is a new entry at the end of BOTH lists.
`Database.open()` runs `migrate`, so every table exists once a database is open, whatever the caller
imported.  The SQLite names and statements are those databases made before this list existed already
recorded, so they open without redoing anything.

PostgreSQL specifics: times in Unix seconds are DOUBLE PRECISION (Python floats, as SQLite's REAL), flags
stay INTEGER 0/1 and JSON stays text (the same Python types on both engines), text columns compare and sort
byte-wise (COLLATE "C", as SQLite does), and `json_patch(text, text)` is defined (RFC 7396 merge patch, as
SQLite's built-in) so the store's SQL is the same.  Nodes starting at once migrate one at a time: each
migration's transaction takes an advisory lock first and looks again at what is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assist.store.db import POSTGRESQL

if TYPE_CHECKING:
    from assist.store.db import Database


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    sql: str  # statements separated by ';'


MIGRATIONS: tuple[Migration, ...] = (
    # calls, their final transcript segments and their prompts
    Migration(
        "0001_calls",
        """
        CREATE TABLE calls (
            call_id TEXT PRIMARY KEY,
            protocol TEXT NOT NULL,
            external_id TEXT,
            agent_id TEXT,
            account_id TEXT,
            language TEXT NOT NULL,
            customer_phone TEXT,
            direction TEXT,
            status TEXT NOT NULL DEFAULT 'registered',
            transcribed INTEGER NOT NULL DEFAULT 1,
            started_at TEXT,
            ended_at TEXT,
            end_reason TEXT,
            duration REAL,
            meta TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        CREATE INDEX calls_account ON calls(account_id, started_at);
        CREATE INDEX calls_agent ON calls(agent_id, started_at);
        CREATE INDEX calls_status ON calls(status);
        CREATE TABLE segments (
            segment_id TEXT PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls(call_id),
            speaker TEXT NOT NULL,
            idx INTEGER NOT NULL,
            start REAL NOT NULL,
            "end" REAL NOT NULL,
            text TEXT NOT NULL,
            words TEXT NOT NULL DEFAULT '[]',
            loudness_db REAL,
            language TEXT,
            at TEXT NOT NULL
        );
        CREATE INDEX segments_call ON segments(call_id, start);
        CREATE TABLE prompts (
            prompt_id TEXT PRIMARY KEY,
            call_id TEXT NOT NULL REFERENCES calls(call_id),
            kind TEXT NOT NULL,
            severity TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX prompts_call ON prompts(call_id, created_at)
    """,
    ),
    # the latest version of each call's summary (assist.store.summaries)
    Migration(
        "0100_summaries",
        """
        CREATE TABLE summaries (
            summary_id TEXT PRIMARY KEY,
            call_id TEXT NOT NULL UNIQUE REFERENCES calls(call_id),
            version INTEGER NOT NULL,
            state TEXT NOT NULL,
            language TEXT,
            body TEXT NOT NULL,
            error TEXT,
            edits TEXT NOT NULL DEFAULT '[]',
            call_ended_at REAL NOT NULL,
            due_at REAL NOT NULL,
            release_at REAL NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            submitted_at REAL
        );
        CREATE INDEX summaries_state ON summaries(state, release_at)
    """,
    ),
    # the transactional outbox and its delivery attempts (assist.store.outbox)
    Migration(
        "0101_outbox",
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            summary_id TEXT NOT NULL REFERENCES summaries(summary_id),
            call_id TEXT NOT NULL,
            target TEXT NOT NULL,
            version INTEGER NOT NULL,
            payload TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at REAL NOT NULL,
            lease_owner TEXT,
            lease_until REAL,
            call_ended_at REAL NOT NULL,
            due_at REAL NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            delivered_at REAL,
            late INTEGER NOT NULL DEFAULT 0,
            remote_id TEXT,
            ambiguous INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            last_error_kind TEXT,
            last_status INTEGER,
            alerted_minutes REAL,
            dead_alerted INTEGER NOT NULL DEFAULT 0,
            UNIQUE(summary_id, target, version)
        );
        CREATE INDEX outbox_ready ON outbox(status, next_attempt_at);
        CREATE INDEX outbox_due ON outbox(status, due_at);
        CREATE INDEX outbox_summary ON outbox(summary_id, target, id);
        CREATE INDEX outbox_call ON outbox(call_id);
        CREATE TABLE outbox_attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            item_id INTEGER NOT NULL REFERENCES outbox(id),
            attempt INTEGER NOT NULL,
            worker TEXT,
            started_at REAL NOT NULL,
            finished_at REAL NOT NULL,
            outcome TEXT NOT NULL,
            kind TEXT NOT NULL,
            http_status INTEGER,
            detail TEXT
        );
        CREATE INDEX outbox_attempts_item ON outbox_attempts(item_id);
        CREATE INDEX outbox_attempts_kind ON outbox_attempts(outcome, kind)
    """,
    ),
    # debtor accounts and the contact-attempt log; IF NOT EXISTS because these tables could be created outside
    # the migration list before it recorded them
    Migration(
        "0110_accounts",
        """
        CREATE TABLE IF NOT EXISTS accounts (
            account_id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            phone TEXT,
            total_due REAL NOT NULL DEFAULT 0,
            overdue_days INTEGER NOT NULL DEFAULT 0,
            body TEXT NOT NULL,
            updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        CREATE INDEX IF NOT EXISTS accounts_phone ON accounts(phone);
        CREATE TABLE IF NOT EXISTS contact_attempts (
            attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
            account_id TEXT NOT NULL,
            at TEXT NOT NULL,
            connected INTEGER NOT NULL DEFAULT 0,
            channel TEXT NOT NULL DEFAULT 'human' CHECK (channel IN ('human', 'robot')),
            call_id TEXT
        );
        CREATE INDEX IF NOT EXISTS contact_attempts_account ON contact_attempts(account_id, at);
        CREATE UNIQUE INDEX IF NOT EXISTS contact_attempts_call ON contact_attempts(account_id, call_id)
            WHERE call_id IS NOT NULL
    """,
    ),
    # people who sign in to the sidebar and the console, their sessions, the session-signing secret
    Migration(
        "0200_users",
        """
        CREATE TABLE users (
            name TEXT PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
            team TEXT,
            display_name TEXT,
            password_hash TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
        );
        CREATE INDEX users_team ON users(team, role);
        CREATE TABLE user_sessions (
            token_hash TEXT PRIMARY KEY,
            user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        );
        CREATE INDEX user_sessions_user ON user_sessions(user_name);
        CREATE TABLE ui_secrets (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )
    """,
    ),
    # supervisor messages to agents and acknowledged alerts
    Migration(
        "0201_supervisor_messages",
        """
        CREATE TABLE supervisor_messages (
            message_id TEXT PRIMARY KEY,
            call_id TEXT NOT NULL,
            from_user TEXT NOT NULL,
            to_user TEXT,
            text TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX supervisor_messages_call ON supervisor_messages(call_id, at);
        CREATE TABLE alert_acks (
            prompt_id TEXT PRIMARY KEY,
            call_id TEXT NOT NULL,
            by_user TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX alert_acks_call ON alert_acks(call_id)
    """,
    ),
)


def _pg(sql: str) -> str:
    """PostgreSQL DDL with the shorthands of this file: CTEXT (text compared byte-wise, as SQLite does),
    NOW_ISO (the current UTC time as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ','now') writes it)."""
    now_iso = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    return sql.replace("CTEXT", 'TEXT COLLATE "C"').replace("NOW_ISO", now_iso)


POSTGRES_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_calls",
        _pg(
            """
        CREATE OR REPLACE FUNCTION assist_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
        LANGUAGE plpgsql IMMUTABLE AS $$
        DECLARE
            k text;
            v jsonb;
            result jsonb;
        BEGIN
            IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
                RETURN patch;
            END IF;
            IF target IS NULL OR jsonb_typeof(target) <> 'object' THEN
                result := '{}'::jsonb;
            ELSE
                result := target;
            END IF;
            FOR k, v IN SELECT key, value FROM jsonb_each(patch) LOOP
                IF jsonb_typeof(v) = 'null' THEN
                    result := result - k;
                ELSE
                    result := jsonb_set(result, ARRAY[k], assist_merge_patch(result -> k, v));
                END IF;
            END LOOP;
            RETURN result;
        END
        $$;
        CREATE OR REPLACE FUNCTION json_patch(target text, patch text) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$ SELECT assist_merge_patch(target::jsonb, patch::jsonb)::text $$;
        CREATE TABLE calls (
            call_id CTEXT PRIMARY KEY,
            protocol CTEXT NOT NULL,
            external_id CTEXT,
            agent_id CTEXT,
            account_id CTEXT,
            language CTEXT NOT NULL,
            customer_phone CTEXT,
            direction CTEXT,
            status CTEXT NOT NULL DEFAULT 'registered',
            transcribed INTEGER NOT NULL DEFAULT 1,
            started_at CTEXT,
            ended_at CTEXT,
            end_reason CTEXT,
            duration DOUBLE PRECISION,
            meta CTEXT NOT NULL DEFAULT '{}',
            created_at CTEXT NOT NULL DEFAULT (NOW_ISO)
        );
        CREATE INDEX calls_account ON calls(account_id, started_at);
        CREATE INDEX calls_agent ON calls(agent_id, started_at);
        CREATE INDEX calls_status ON calls(status);
        CREATE TABLE segments (
            segment_id CTEXT PRIMARY KEY,
            call_id CTEXT NOT NULL REFERENCES calls(call_id),
            speaker CTEXT NOT NULL,
            idx INTEGER NOT NULL,
            start DOUBLE PRECISION NOT NULL,
            "end" DOUBLE PRECISION NOT NULL,
            text CTEXT NOT NULL,
            words CTEXT NOT NULL DEFAULT '[]',
            loudness_db DOUBLE PRECISION,
            language CTEXT,
            at CTEXT NOT NULL
        );
        CREATE INDEX segments_call ON segments(call_id, start);
        CREATE TABLE prompts (
            prompt_id CTEXT PRIMARY KEY,
            call_id CTEXT NOT NULL REFERENCES calls(call_id),
            kind CTEXT NOT NULL,
            severity CTEXT NOT NULL,
            body CTEXT NOT NULL,
            created_at CTEXT NOT NULL
        );
        CREATE INDEX prompts_call ON prompts(call_id, created_at)
    """
        ),
    ),
    Migration(
        "0100_summaries",
        _pg(
            """
        CREATE TABLE summaries (
            summary_id CTEXT PRIMARY KEY,
            call_id CTEXT NOT NULL UNIQUE REFERENCES calls(call_id),
            version INTEGER NOT NULL,
            state CTEXT NOT NULL,
            language CTEXT,
            body CTEXT NOT NULL,
            error CTEXT,
            edits CTEXT NOT NULL DEFAULT '[]',
            call_ended_at DOUBLE PRECISION NOT NULL,
            due_at DOUBLE PRECISION NOT NULL,
            release_at DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            submitted_at DOUBLE PRECISION
        );
        CREATE INDEX summaries_state ON summaries(state, release_at)
    """
        ),
    ),
    Migration(
        "0101_outbox",
        _pg(
            """
        CREATE TABLE outbox (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            summary_id CTEXT NOT NULL REFERENCES summaries(summary_id),
            call_id CTEXT NOT NULL,
            target CTEXT NOT NULL,
            version INTEGER NOT NULL,
            payload CTEXT NOT NULL,
            idempotency_key CTEXT NOT NULL,
            status CTEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at DOUBLE PRECISION NOT NULL,
            lease_owner CTEXT,
            lease_until DOUBLE PRECISION,
            call_ended_at DOUBLE PRECISION NOT NULL,
            due_at DOUBLE PRECISION NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            delivered_at DOUBLE PRECISION,
            late INTEGER NOT NULL DEFAULT 0,
            remote_id CTEXT,
            ambiguous INTEGER NOT NULL DEFAULT 0,
            last_error CTEXT,
            last_error_kind CTEXT,
            last_status INTEGER,
            alerted_minutes DOUBLE PRECISION,
            dead_alerted INTEGER NOT NULL DEFAULT 0,
            UNIQUE(summary_id, target, version)
        );
        CREATE INDEX outbox_ready ON outbox(status, next_attempt_at);
        CREATE INDEX outbox_due ON outbox(status, due_at);
        CREATE INDEX outbox_summary ON outbox(summary_id, target, id);
        CREATE INDEX outbox_call ON outbox(call_id);
        CREATE TABLE outbox_attempts (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            item_id BIGINT NOT NULL REFERENCES outbox(id),
            attempt INTEGER NOT NULL,
            worker CTEXT,
            started_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION NOT NULL,
            outcome CTEXT NOT NULL,
            kind CTEXT NOT NULL,
            http_status INTEGER,
            detail CTEXT
        );
        CREATE INDEX outbox_attempts_item ON outbox_attempts(item_id);
        CREATE INDEX outbox_attempts_kind ON outbox_attempts(outcome, kind)
    """
        ),
    ),
    Migration(
        "0110_accounts",
        _pg(
            """
        CREATE TABLE accounts (
            account_id CTEXT PRIMARY KEY,
            name CTEXT NOT NULL DEFAULT '',
            phone CTEXT,
            total_due DOUBLE PRECISION NOT NULL DEFAULT 0,
            overdue_days INTEGER NOT NULL DEFAULT 0,
            body CTEXT NOT NULL,
            updated_at CTEXT NOT NULL DEFAULT (NOW_ISO)
        );
        CREATE INDEX accounts_phone ON accounts(phone);
        CREATE TABLE contact_attempts (
            attempt_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            account_id CTEXT NOT NULL,
            at CTEXT NOT NULL,
            connected INTEGER NOT NULL DEFAULT 0,
            channel CTEXT NOT NULL DEFAULT 'human' CHECK (channel IN ('human', 'robot')),
            call_id CTEXT
        );
        CREATE INDEX contact_attempts_account ON contact_attempts(account_id, at);
        CREATE UNIQUE INDEX contact_attempts_call ON contact_attempts(account_id, call_id)
            WHERE call_id IS NOT NULL
    """
        ),
    ),
    Migration(
        "0200_users",
        _pg(
            """
        CREATE TABLE users (
            name CTEXT PRIMARY KEY,
            role CTEXT NOT NULL CHECK (role IN ('agent', 'supervisor')),
            team CTEXT,
            display_name CTEXT,
            password_hash CTEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at CTEXT NOT NULL DEFAULT (NOW_ISO)
        );
        CREATE INDEX users_team ON users(team, role);
        CREATE TABLE user_sessions (
            token_hash CTEXT PRIMARY KEY,
            user_name CTEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX user_sessions_user ON user_sessions(user_name);
        CREATE TABLE ui_secrets (
            name CTEXT PRIMARY KEY,
            value CTEXT NOT NULL
        )
    """
        ),
    ),
    Migration(
        "0201_supervisor_messages",
        _pg(
            """
        CREATE TABLE supervisor_messages (
            message_id CTEXT PRIMARY KEY,
            call_id CTEXT NOT NULL,
            from_user CTEXT NOT NULL,
            to_user CTEXT,
            text CTEXT NOT NULL,
            at CTEXT NOT NULL
        );
        CREATE INDEX supervisor_messages_call ON supervisor_messages(call_id, at);
        CREATE TABLE alert_acks (
            prompt_id CTEXT PRIMARY KEY,
            call_id CTEXT NOT NULL,
            by_user CTEXT NOT NULL,
            at CTEXT NOT NULL
        );
        CREATE INDEX alert_acks_call ON alert_acks(call_id)
    """
        ),
    ),
)


def migrations_for(engine: str) -> tuple[Migration, ...]:
    return POSTGRES_MIGRATIONS if engine == POSTGRESQL else MIGRATIONS


async def migrate(db: Database) -> list[str]:
    """Apply the migrations this database has not run yet, in order, each in its own transaction; returns
    the names applied."""
    if db.engine == POSTGRESQL:
        return await _migrate_postgres(db)
    await db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL"
        " DEFAULT CURRENT_TIMESTAMP)"
    )
    done = {row["name"] for row in await db.fetchall("SELECT name FROM schema_migrations")}
    applied = []
    for m in MIGRATIONS:
        if m.name in done:
            continue
        async with db.transaction() as tx:
            await tx.executescript(m.sql)
            await tx.execute("INSERT INTO schema_migrations(name) VALUES (?)", (m.name,))
        applied.append(m.name)
    return applied


# held for one transaction: nodes opening the same database (schema) at once migrate one after the other
_PG_LOCK = "SELECT pg_advisory_xact_lock(hashtext('assist.schema_migrations:' || current_schema()))"


async def _migrate_postgres(db: Database) -> list[str]:
    async with db.transaction() as tx:
        await tx.execute(_PG_LOCK)
        await tx.execute(
            'CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT COLLATE "C" PRIMARY KEY,'
            " applied_at TEXT NOT NULL DEFAULT (clock_timestamp()::text))"
        )
    applied = []
    for m in POSTGRES_MIGRATIONS:
        async with db.transaction() as tx:
            await tx.execute(_PG_LOCK)
            if await tx.fetchone("SELECT 1 AS done FROM schema_migrations WHERE name=?", (m.name,)):
                continue
            await tx.executescript(m.sql)
            await tx.execute("INSERT INTO schema_migrations(name) VALUES (?)", (m.name,))
        applied.append(m.name)
    return applied
