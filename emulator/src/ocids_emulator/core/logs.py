"""Logs as records: the check that a log target exists, new logs, and the entries job runs write."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from ocids_emulator.core.emulator import LOG, LOG_GROUP, Emulator
from ocids_emulator.core.errors import not_found
from ocids_emulator.core.timeutil import now_rfc3339, rfc3339, utcnow
from ocids_emulator.store.sqlite import Record

ENTRY_TYPE = "com.oraclecloud.datascience.jobrun.stdout"


def check_log_target(emu: Emulator, group_id: str, log_id: str | None) -> None:
    group = emu.store.get(LOG_GROUP, group_id)
    if group is None or group.doc.get("lifecycleState") == "DELETED":
        raise not_found(f"log group {group_id}")
    if log_id:
        log = emu.store.get(LOG, log_id)
        if log is None or log.doc["logGroupId"] != group_id:
            raise not_found(f"log {log_id} in log group {group_id}")


def new_log(emu: Emulator, group_id: str, display_name: str, extra: dict[str, Any] | None = None) -> Record:
    group = emu.require(LOG_GROUP, group_id)
    now = now_rfc3339()
    log_id = emu.new_id("log")
    doc = {
        "id": log_id,
        "tenancyId": emu.tenancy.tenancy_id,
        "logGroupId": group_id,
        "compartmentId": group.doc["compartmentId"],
        "displayName": display_name,
        "logType": "CUSTOM",
        "isEnabled": True,
        "lifecycleState": "ACTIVE",
        "retentionDuration": 30,
        "freeformTags": {},
        "definedTags": {},
        "timeCreated": now,
        "timeLastModified": now,
        **(extra or {}),
    }
    return emu.create(LOG, log_id, doc)


def append_lines(emu: Emulator, log_id: str, source: str, lines: list[str]) -> None:
    """Store run output as log entries, shaped like Logging search results."""
    log = emu.store.get(LOG, log_id)
    if log is None or not lines:
        return
    rows = []
    now = utcnow()
    for i, line in enumerate(lines):
        # Lines read together would share a timestamp; microsecond steps keep their order visible.
        stamp = now + dt.timedelta(microseconds=i)
        when = rfc3339(stamp)
        content = {
            "datetime": int(stamp.timestamp() * 1000),
            "logContent": {
                "id": str(uuid.uuid4()),
                "time": when,
                "source": source,
                "type": ENTRY_TYPE,
                "specversion": "1.0",
                "subject": "",
                "oracle": {
                    "compartmentid": log.doc["compartmentId"],
                    "loggroupid": log.doc["logGroupId"],
                    "logid": log_id,
                    "tenantid": emu.tenancy.tenancy_id,
                    "ingestedtime": when,
                },
                "data": {"message": line},
            },
        }
        rows.append((log_id, stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), source, content))
    emu.store.add_log_entries(rows)
