"""The database schema: every table, as one ordered list of migrations applied by `migrate`.

A migration's name is recorded in `schema_migrations` once it has run and must never change; a new table or
column is a new entry at the end of `MIGRATIONS`.  `Database.open()` runs `migrate`, so every table exists
once a database is open, whatever the caller imported.  The names and statements are those databases made
before this list existed already recorded, so they open without redoing anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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


async def migrate(db: Database) -> list[str]:
    """Apply the migrations this database has not run yet, in order, each in its own transaction; returns
    the names applied."""
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
