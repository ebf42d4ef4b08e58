"""Run the outbox delivery worker: `python -m assist.sync.worker [--db PATH_OR_URL]` (configured by
ASSIST_SYNC_*; the database by --db, else ASSIST_DATABASE_URL, else the service's SQLite file).

`start_worker()` is the same thing for the service, in-process on its open Database.  SIGTERM/SIGINT stop it
gracefully; after a SIGKILL the next start re-claims what this node's worker had in flight.  Workers on
several nodes may share one PostgreSQL database (assist.sync.outbox).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from pydantic import ValidationError

from assist import logs
from assist.settings import Settings
from assist.store.db import Database, open_database
from assist.sync.clock import Clock
from assist.sync.crm import build_adapters
from assist.sync.outbox import AlertCallback, OutboxAlert, OutboxWorker
from assist.sync.settings import SyncSettings

log = logs.get(__name__)


async def start_worker(
    db: Database,
    settings: SyncSettings,
    *,
    on_alert: AlertCallback | None = None,
    clock: Clock | None = None,
    worker_id: str | None = None,
) -> OutboxWorker:
    """Build the configured adapters and start a worker on an open Database; `await w.close()` stops it."""
    adapters = {k: v for k, v in build_adapters(settings, clock).items() if k in settings.targets}
    worker = OutboxWorker(db, adapters, settings, clock=clock, on_alert=on_alert, worker_id=worker_id)
    await worker.start()
    return worker


def _log_alert(alert: OutboxAlert) -> None:
    log.warning("supervisor alert", **alert.model_dump(mode="json", exclude={"type", "message"}), text=alert.message)


async def _serve(db_target: str | None, worker_id: str | None) -> int:
    try:
        settings = SyncSettings()
    except ValidationError as e:
        log.error("bad ASSIST_SYNC_* configuration", problems=[err["msg"] for err in e.errors()])
        return 2
    if not settings.targets:
        log.error("no CRM targets configured (ASSIST_SYNC_TARGETS); nothing to deliver to")
        return 2
    service = Settings()
    target: str | Path = db_target or service.database_target
    db = await open_database(target, pool_size=service.database_pool_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = await start_worker(db, settings, on_alert=_log_alert, worker_id=worker_id)
    log.info("outbox worker running", db=db.describe(), targets=settings.targets, worker=worker.worker_id)
    try:
        await stop.wait()
    finally:
        await worker.close()
        await db.close()
    log.info("outbox worker stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m assist.sync.worker", description=__doc__)
    p.add_argument(
        "--db",
        help="the SQLite database file or a database URL (default: ASSIST_DATABASE_URL, else the service's "
        "DATA_DIR/assist.db)",
    )
    p.add_argument(
        "--worker-id",
        help="stable id of this node (default: ASSIST_SYNC_WORKER_ID or host name); each worker process leases "
        "under this id plus a random part",
    )
    p.add_argument("--log-format", default="auto", choices=["auto", "json", "console"])
    p.add_argument("--log-level", default="INFO")
    ns = p.parse_args(argv)
    logs.configure(ns.log_format, ns.log_level)
    return asyncio.run(_serve(ns.db, ns.worker_id))


if __name__ == "__main__":
    sys.exit(main())
