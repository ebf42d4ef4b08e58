"""What supervisors do in the console: text messages to an agent on a call, and acknowledged alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from assist.events import new_id, utcnow
from assist.store.db import Database

MAX_TEXT = 1000


def _iso(dt: datetime) -> str:
    return dt.isoformat()


class MessageStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add_message(self, call_id: str, from_user: str, to_user: str | None, text: str) -> dict[str, Any]:
        text = text.strip()
        if not text:
            raise ValueError("message text is empty")
        if len(text) > MAX_TEXT:
            raise ValueError(f"message text is {len(text)} characters; at most {MAX_TEXT}")
        msg = {
            "message_id": new_id("m_"),
            "call_id": call_id,
            "from_user": from_user,
            "to_user": to_user,
            "text": text,
            "at": _iso(utcnow()),
        }
        await self.db.execute(
            "INSERT INTO supervisor_messages(message_id, call_id, from_user, to_user, text, at) VALUES (?,?,?,?,?,?)",
            (msg["message_id"], call_id, from_user, to_user, text, msg["at"]),
        )
        return msg

    async def messages(self, call_id: str) -> list[dict[str, Any]]:
        rows = await self.db.fetchall("SELECT * FROM supervisor_messages WHERE call_id=? ORDER BY at", (call_id,))
        return [dict(r) for r in rows]

    async def ack(self, prompt_id: str, call_id: str, by_user: str) -> tuple[dict[str, Any], bool]:
        """Acknowledge an alert; (the ack, True if it is new).  A second ack keeps the first one."""
        at = _iso(utcnow())
        async with self.db.transaction() as tx:
            n = await tx.execute(
                """INSERT INTO alert_acks(prompt_id, call_id, by_user, at) VALUES (?,?,?,?)
                   ON CONFLICT(prompt_id) DO NOTHING""",
                (prompt_id, call_id, by_user, at),
            )
            rows = await tx.fetchall("SELECT * FROM alert_acks WHERE prompt_id=?", (prompt_id,))
        return dict(rows[0]), n == 1

    async def acks(self, call_ids: list[str]) -> list[dict[str, Any]]:
        if not call_ids:
            return []
        marks = ",".join("?" * len(call_ids))
        rows = await self.db.fetchall(f"SELECT * FROM alert_acks WHERE call_id IN ({marks})", tuple(call_ids))
        return [dict(r) for r in rows]
