-- A database made by the store of commit e474041 (migrations registered on import) as the outbox worker and
-- 'assist outbox' left it: calls, one ended call with its summary and outbox row, an account and its contact
-- attempt, and no users or supervisor-messages tables (only a process that imported those modules had them).
BEGIN TRANSACTION;
CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    phone TEXT,
    total_due REAL NOT NULL DEFAULT 0,
    overdue_days INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
INSERT INTO "accounts" VALUES('ACC-1','张伟',NULL,5000.0,0,'{"id":"ACC-1","name":"张伟","principal":5000.0,"interest":0.0,"penalty":0.0,"total_due":5000.0,"overdue_days":0,"stage":null,"due_date":null,"currency":null,"timezone":null,"phone":null,"creditor":null,"product":null,"previous_promises":[],"contacts":[]}','2026-12-03T18:31:00.943Z');
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
INSERT INTO "calls" VALUES('old-1','twilio',NULL,'a-1','ACC-1','zh-CN',NULL,NULL,'ended',1,'2026-11-20T02:00:00+00:00','2026-11-20T02:01:01+00:00','hangup',61.0,'{"summary":{"id":"sum_old-1","version":1,"state":"draft"}}','2026-12-03T18:31:00.917Z');
CREATE TABLE contact_attempts (
    attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    at TEXT NOT NULL,
    connected INTEGER NOT NULL DEFAULT 0,
    channel TEXT NOT NULL DEFAULT 'human' CHECK (channel IN ('human', 'robot')),
    call_id TEXT
);
INSERT INTO "contact_attempts" VALUES(1,'ACC-1','2026-11-20T02:00:00.000000+00:00',1,'human','old-1');
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
INSERT INTO "outbox" VALUES(1,'sum_old-1','old-1','webhook',1,'{"summary_id": "sum_old-1", "call_id": "old-1", "version": 1, "language": "zh-CN", "account_id": "ACC-1", "agent_id": "a-1", "direction": null, "customer_phone": null, "started_at": "2026-11-20T02:00:00Z", "ended_at": "2026-11-20T02:01:01Z", "duration_seconds": 61.0, "outcome": "no_commitment", "willingness": null, "economic_situation": null, "contact_changes": {"new_numbers": []}, "dispute": null, "promise": null, "proposed_plan": null, "risk_flags": [], "customer_flags": [], "temperament": null, "compliance": {"disclosures": [], "disclosures_made": [], "disclosures_missing": [], "violations": [], "call_time": null, "passed": true}, "narrative": "客户未作出还款承诺。合规检查通过。通话时长1分1秒。", "agent_notes": null, "transcript_url": null, "recording_url": null, "crm_refs": {}, "edited_fields": [], "created_at": "2026-12-03T18:31:00.921833Z", "updated_at": "2026-12-03T18:31:00.921837Z"}','sum_old-1:v1','held',0,1795140670.0,NULL,NULL,1795140061.0,1795147261.0,1795140070.0,1795140070.0,NULL,0,NULL,0,NULL,NULL,NULL,NULL,0);
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
CREATE TABLE prompts (
        prompt_id TEXT PRIMARY KEY,
        call_id TEXT NOT NULL REFERENCES calls(call_id),
        kind TEXT NOT NULL,
        severity TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
INSERT INTO "schema_migrations" VALUES('0110_accounts','2026-12-03 18:31:00');
INSERT INTO "schema_migrations" VALUES('0001_calls','2026-12-03 18:31:00');
INSERT INTO "schema_migrations" VALUES('0100_summaries','2026-12-03 18:31:00');
INSERT INTO "schema_migrations" VALUES('0101_outbox','2026-12-03 18:31:00');
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
INSERT INTO "summaries" VALUES('sum_old-1','old-1',1,'draft','zh-CN','{"summary_id": "sum_old-1", "call_id": "old-1", "version": 1, "language": "zh-CN", "account_id": "ACC-1", "agent_id": "a-1", "direction": null, "customer_phone": null, "started_at": "2026-11-20T02:00:00Z", "ended_at": "2026-11-20T02:01:01Z", "duration_seconds": 61.0, "outcome": "no_commitment", "willingness": null, "economic_situation": null, "contact_changes": {"new_numbers": []}, "dispute": null, "promise": null, "proposed_plan": null, "risk_flags": [], "customer_flags": [], "temperament": null, "compliance": {"disclosures": [], "disclosures_made": [], "disclosures_missing": [], "violations": [], "call_time": null, "passed": true}, "narrative": "客户未作出还款承诺。合规检查通过。通话时长1分1秒。", "agent_notes": null, "transcript_url": null, "recording_url": null, "crm_refs": {}, "edited_fields": [], "created_at": "2026-12-03T18:31:00.921833Z", "updated_at": "2026-12-03T18:31:00.921837Z"}',NULL,'[]',1795140061.0,1795147261.0,1795140670.0,1795140070.0,1795140070.0,NULL);
CREATE INDEX accounts_phone ON accounts(phone);
CREATE INDEX contact_attempts_account ON contact_attempts(account_id, at);
CREATE UNIQUE INDEX contact_attempts_call ON contact_attempts(account_id, call_id)
    WHERE call_id IS NOT NULL;
CREATE INDEX calls_account ON calls(account_id, started_at);
CREATE INDEX calls_agent ON calls(agent_id, started_at);
CREATE INDEX calls_status ON calls(status);
CREATE INDEX segments_call ON segments(call_id, start);
CREATE INDEX prompts_call ON prompts(call_id, created_at);
CREATE INDEX summaries_state ON summaries(state, release_at);
CREATE INDEX outbox_ready ON outbox(status, next_attempt_at);
CREATE INDEX outbox_due ON outbox(status, due_at);
CREATE INDEX outbox_summary ON outbox(summary_id, target, id);
CREATE INDEX outbox_call ON outbox(call_id);
CREATE INDEX outbox_attempts_item ON outbox_attempts(item_id);
CREATE INDEX outbox_attempts_kind ON outbox_attempts(outcome, kind);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('outbox',1);
INSERT INTO "sqlite_sequence" VALUES('contact_attempts',1);
COMMIT;
