"""The intake's write on PostgreSQL as one statement: a group's campaigns, their messages and
their audit events, each table's rows passed as one JSON array (one parameter of text for the
driver to send, where an array a column cost its Python dumpers ~6% of a web worker's time; a
value too long for its column is refused, where an array's cast cut it). The campaigns' ids are
taken from their sequence inside the statement, and each message and event is joined to its
submission's campaign by ordinal; the statement answers with a row a message: its Message-ID,
its id and its campaign's id (as `lost_answers` finds a write's rows again).

A campaign INSERT, then the messages and events by `executemany` in a pipeline with the commit,
cost the web process about 0.47 ms of CPU and the server 0.38 a write of one email, in three
round trips and five statements or more; this statement with its BEGIN and COMMIT, in one round
trip, 0.29 and 0.27 (docs/benchmarks.md, "API intake"). Sent alone on a connection in autocommit
(no BEGIN, no COMMIT, no pipeline), it is its own transaction, and the server's CPU per email
halved again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect

from dashboard.sending.intake_rows import CompiledInsert

#: The columns a group statement fills itself: the message's campaign and the event's target.
CAMPAIGN_COLUMN = "campaign_id"
TARGET_COLUMN = "target"


@dataclass(frozen=True)
class GroupInsert:
    """The statement for one shape of rows (the keys of a group's campaigns, messages and events),
    and how each group's values become its parameters."""

    sql: str
    campaign: CompiledInsert
    message: CompiledInsert
    event: CompiledInsert

    def parameters(
        self,
        campaigns: Sequence[Mapping[str, Any]],
        messages: Sequence[Sequence[Mapping[str, Any]]],
        events: Sequence[Mapping[str, Any]],
    ) -> dict[str, str]:
        """One JSON array of rows per table: the campaigns', every message's (with the ordinal
        of its campaign, from 1, as `_of`), the events' (one a campaign)."""
        # The columns the statement fills itself are given as nothing, and not sent.
        rows = [
            {**self.message.parameters({**row, CAMPAIGN_COLUMN: None}), "_of": n}
            for n, group in enumerate(messages, 1)
            for row in group
        ]
        return {
            "c": _json([self.campaign.parameters(row) for row in campaigns]),
            "m": _json(rows),
            "e": _json([self.event.parameters({**e, TARGET_COLUMN: None}) for e in events]),
        }


def _json(rows: list[Any]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=_json_value)


def _json_value(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()  # as PostgreSQL reads a timestamp or a date
    raise TypeError(f"{type(value).__name__} cannot be a JSON value")


def compile_group_insert(
    tables: tuple[Table, Table, Table],
    statements: tuple[CompiledInsert, CompiledInsert, CompiledInsert],
    dialect: Dialect,
) -> GroupInsert:
    """The statement inserting campaigns, messages and events as `statements` (each table's
    compiled INSERT, whose keys, defaults and conversions it reuses) would, for PostgreSQL."""
    campaign_table, message_table, event_table = tables
    campaign, message, event = statements
    quote = dialect.identifier_preparer.quote
    message_keys = tuple(key for key in message.keys if key != CAMPAIGN_COLUMN)
    event_keys = tuple(key for key in event.keys if key != TARGET_COLUMN)

    def rows(parameter: str, table: Table, keys: Sequence[str], extra: str = "") -> str:
        """The parameter's JSON rows as a table of `keys`, typed as their columns (keys of the
        rows not among them are left out)."""
        typed = ", ".join(
            f"{quote(key)} {table.c[key].type.compile(dialect=dialect)}" for key in keys
        )
        return f"ROWS FROM (json_to_recordset(%({parameter})s::json) AS ({extra}{typed}))"

    def names(keys: Sequence[str], prefix: str = "") -> str:
        return ", ".join(prefix + quote(key) for key in keys)

    campaign_name, message_name, event_name = (
        quote(table.name) for table in (campaign_table, message_table, event_table)
    )
    sql = (
        "WITH c AS MATERIALIZED ("
        f" SELECT nextval(pg_get_serial_sequence('{campaign_table.name}', 'id')) AS id, v.*"
        f" FROM {rows('c', campaign_table, campaign.keys)}"
        f" WITH ORDINALITY AS v ({names(campaign.keys)}, _n)"
        "), new_campaigns AS ("
        f" INSERT INTO {campaign_name} (id, {names(campaign.keys)})"
        f" SELECT id, {names(campaign.keys)} FROM c ORDER BY _n"
        "), new_messages AS ("
        f" INSERT INTO {message_name} ({quote(CAMPAIGN_COLUMN)}, {names(message_keys)})"
        f" SELECT c.id, {names(message_keys, 'v.')}"
        f" FROM {rows('m', message_table, message_keys, '_of INTEGER, ')}"
        f" WITH ORDINALITY AS v (_of, {names(message_keys)}, _k)"
        " JOIN c ON c._n = v._of ORDER BY v._k"
        " RETURNING message_id_header, id, campaign_id"
        "), new_events AS ("
        f" INSERT INTO {event_name} ({names(event_keys)}, {quote(TARGET_COLUMN)})"
        f" SELECT {names(event_keys, 'v.')}, 'campaign ' || c.id"
        f" FROM {rows('e', event_table, event_keys)}"
        f" WITH ORDINALITY AS v ({names(event_keys)}, _k)"
        " JOIN c ON c._n = v._k ORDER BY v._k"
        ") SELECT message_id_header, id, campaign_id FROM new_messages"
    )
    return GroupInsert(sql, campaign, message, event)
