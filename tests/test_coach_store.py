"""AccountStore over the real database (SQLite and PostgreSQL): accounts, imports, the contact-attempt log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from assist.accounts import AccountError, parse_account
from assist.coach.dialing import dial_check
from assist.coach.playbook import load_playbook
from assist.store.accounts import AccountStore
from assist.store.db import Database, open_database

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def store(any_db: Database) -> AccountStore:
    return AccountStore(any_db)


async def test_upsert_get_and_keep_unknown_fields(store: AccountStore) -> None:
    acc = parse_account({"id": "A1", "name": "张伟", "principal": 100, "phone": "13800000000", "branch": "深圳"})
    await store.upsert(acc)
    got = await store.get("A1")
    assert got is not None and got.total_due == 100 and got.model_extra == {"branch": "深圳"}
    await store.upsert(acc.model_copy(update={"principal": 200.0, "total_due": 200.0}))
    got = await store.get("A1")
    assert got is not None and got.total_due == 200
    assert (await store.by_phone("13800000000")) is not None
    assert await store.get("nope") is None


async def test_import_is_all_or_nothing(store: AccountStore, tmp_path: Path) -> None:
    good = tmp_path / "a.csv"
    good.write_text("id,name,principal\nA1,x,1\nA2,y,2\n", encoding="utf-8")
    assert await store.import_file(good) == 2
    assert [a.id for a in await store.list()] == ["A1", "A2"]
    bad = tmp_path / "b.csv"
    bad.write_text("id,name,principal\nA3,x,1\nA4,y,oops\n", encoding="utf-8")
    with pytest.raises(AccountError, match="row 3"):
        await store.import_file(bad)
    assert [a.id for a in await store.list()] == ["A1", "A2"]


async def test_attempts_history_and_dial_check(store: AccountStore) -> None:
    now = datetime(2026, 11, 25, 16, 0, tzinfo=SH)
    attempts: tuple[tuple[int, bool, Literal["human", "robot"]], ...] = (
        (6, True, "robot"),
        (4, False, "human"),
        (3, True, "human"),
        (2, True, "human"),
    )
    for h, connected, channel in attempts:
        await store.record_attempt(
            "A1", now - timedelta(hours=h), connected=connected, channel=channel, call_id=f"c{h}"
        )
    await store.record_attempt("A1", now - timedelta(days=3), connected=True)
    await store.record_attempt("B", now - timedelta(hours=1), connected=True)
    hist = await store.history("A1", since=now - timedelta(days=1))
    assert len(hist.attempts) == 4 and hist.attempts[0].channel == "robot"
    assert hist.attempts[0].at == (now - timedelta(hours=6)).astimezone(UTC)
    dc = dial_check(None, hist, now, load_playbook("zh-CN"))
    assert not dc.allowed and dc.connected_today == 3
    # recording the same call again updates it instead of counting twice
    await store.record_attempt("A1", now - timedelta(hours=2), connected=False, call_id="c2")
    hist = await store.history("A1", since=now - timedelta(days=1))
    assert len(hist.attempts) == 4 and dial_check(None, hist, now, load_playbook("zh-CN")).allowed


async def test_bad_attempts_are_refused(store: AccountStore) -> None:
    with pytest.raises(ValueError, match="aware"):
        await store.record_attempt("A1", datetime(2026, 11, 25, 10, 0), connected=True)
    with pytest.raises(ValueError, match="channel"):
        await store.record_attempt("A1", datetime(2026, 11, 25, 10, 0, tzinfo=SH), connected=True, channel="fax")  # type: ignore[arg-type]


async def test_reopening_keeps_the_accounts(database_url: str) -> None:
    db = await open_database(database_url)
    await AccountStore(db).upsert(parse_account({"id": "Z"}))
    await db.close()
    db = await open_database(database_url)
    try:
        assert (await AccountStore(db).get("Z")) is not None
    finally:
        await db.close()
