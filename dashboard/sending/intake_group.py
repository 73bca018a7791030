"""The intake's write on PostgreSQL as one statement: a group's campaigns, their messages and
their audit events, each column's values passed as one array. The campaigns' ids are taken from
their sequence inside the statement, and each message and event is joined to its submission's
campaign by ordinal; the statement answers with a row a message: its Message-ID, its id and its
campaign's id (as `lost_answers` finds a write's rows again).

A campaign INSERT, then the messages and events by `executemany` in a pipeline with the commit,
cost the web process about 0.47 ms of CPU and the server 0.38 a write of one email, in three
round trips and five statements or more; this statement with its BEGIN and COMMIT, in one round
trip, 0.29 and 0.27 (docs/benchmarks.md, "API intake"). Sent alone on a connection in autocommit
(no BEGIN, no COMMIT, no pipeline), it is its own transaction, and the server's CPU per email
halved again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    message_keys: tuple[str, ...]
    event_keys: tuple[str, ...]

    def parameters(
        self,
        campaigns: Sequence[Mapping[str, Any]],
        messages: Sequence[Sequence[Mapping[str, Any]]],
        events: Sequence[Mapping[str, Any]],
    ) -> dict[str, list[Any]]:
        """One array per column: the campaigns', then every message's (with the ordinal of its
        campaign, from 1), then the events' (one a campaign)."""
        parameters: dict[str, list[Any]] = {}
        _columns(parameters, "c", self.campaign, self.campaign.keys, campaigns)
        # The columns the statement fills itself are given as nothing, and not sent.
        rows = [{**row, CAMPAIGN_COLUMN: None} for group in messages for row in group]
        parameters["m__of"] = [n for n, group in enumerate(messages, 1) for _ in group]
        _columns(parameters, "m", self.message, self.message_keys, rows)
        events = [{**event, TARGET_COLUMN: None} for event in events]
        _columns(parameters, "e", self.event, self.event_keys, events)
        return parameters


def _columns(
    parameters: dict[str, list[Any]],
    prefix: str,
    statement: CompiledInsert,
    keys: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    converted = [statement.parameters(row) for row in rows]
    for key in keys:
        parameters[f"{prefix}_{key}"] = [values[key] for values in converted]


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

    def unnest(prefix: str, table: Table, keys: Sequence[str], extra: str = "") -> str:
        arrays = [
            f"%({prefix}_{key})s::{table.c[key].type.compile(dialect=dialect)}[]" for key in keys
        ]
        return f"unnest({extra}{', '.join(arrays)})"

    def names(keys: Sequence[str], prefix: str = "") -> str:
        return ", ".join(prefix + quote(key) for key in keys)

    campaign_name, message_name, event_name = (
        quote(table.name) for table in (campaign_table, message_table, event_table)
    )
    sql = (
        "WITH c AS MATERIALIZED ("
        f" SELECT nextval(pg_get_serial_sequence('{campaign_table.name}', 'id')) AS id, v.*"
        f" FROM {unnest('c', campaign_table, campaign.keys)}"
        f" WITH ORDINALITY AS v ({names(campaign.keys)}, _n)"
        "), new_campaigns AS ("
        f" INSERT INTO {campaign_name} (id, {names(campaign.keys)})"
        f" SELECT id, {names(campaign.keys)} FROM c ORDER BY _n"
        "), new_messages AS ("
        f" INSERT INTO {message_name} ({quote(CAMPAIGN_COLUMN)}, {names(message_keys)})"
        f" SELECT c.id, {names(message_keys, 'v.')}"
        f" FROM {unnest('m', message_table, message_keys, '%(m__of)s::INTEGER[], ')}"
        f" WITH ORDINALITY AS v (_of, {names(message_keys)}, _k)"
        " JOIN c ON c._n = v._of ORDER BY v._k"
        " RETURNING message_id_header, id, campaign_id"
        "), new_events AS ("
        f" INSERT INTO {event_name} ({names(event_keys)}, {quote(TARGET_COLUMN)})"
        f" SELECT {names(event_keys, 'v.')}, 'campaign ' || c.id"
        f" FROM {unnest('e', event_table, event_keys)}"
        f" WITH ORDINALITY AS v ({names(event_keys)}, _k)"
        " JOIN c ON c._n = v._k ORDER BY v._k"
        ") SELECT message_id_header, id, campaign_id FROM new_messages"
    )
    return GroupInsert(sql, campaign, message, event, message_keys, event_keys)
