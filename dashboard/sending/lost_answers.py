"""A PostgreSQL write whose answer was lost: the connection died once its commit was on the way,
so the write may or may not have committed. Answering an error for a write that committed
invites the client to send the email again (twice, then); answering success for one that did
not loses it. So the write's rows are looked up, by their Message-IDs (made before the write,
one per message, indexed), on a new connection, after the old connection's backend has been
made to end: a commit still on its way can then no longer land after the look.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from dashboard.database import connection_outside_pool

log = logging.getLogger(__name__)

#: How long the look waits for the old backend to end before it gives up (and tells nothing).
BACKEND_END_SECONDS = 5.0


def rows_committed(
    engine: Engine, backend_pid: int, message_id_headers: Sequence[str]
) -> dict[str, tuple[int, int]] | None:
    """Each Message-ID's row (its id and its campaign's) when the write committed, {} when it
    did not, None when that cannot be told (the database cannot be reached, or the old backend,
    `backend_pid`, does not end in time). PostgreSQL only."""
    try:
        # Not from the engine's pool: its connections may all be lent to the requests that wait
        # for this write.
        connection = connection_outside_pool(engine)
    except Exception as error:  # the database cannot be reached: nothing can be told
        log.warning("a lost write could not be checked (%s)", type(error).__name__)
        return None
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT pg_terminate_backend(%s)", (backend_pid,))
        deadline = time.monotonic() + BACKEND_END_SECONDS
        while True:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend_pid,))
            if cursor.fetchone()[0] == 0:
                break
            if time.monotonic() > deadline:
                log.warning("a lost write could not be checked: its backend did not end")
                return None
            connection.rollback()  # a new snapshot for the next look
            time.sleep(0.05)
        cursor.execute(
            "SELECT message_id_header, id, campaign_id FROM message"
            " WHERE message_id_header = ANY(%s)",
            (list(message_id_headers),),
        )
        found = {header: (row_id, campaign_id) for header, row_id, campaign_id in cursor}
        connection.rollback()
    except Exception as error:
        log.warning("a lost write could not be checked (%s)", type(error).__name__)
        return None
    finally:
        with contextlib.suppress(Exception):  # already broken: nothing to close
            connection.dbapi_connection.close()
    if found and len(found) != len(set(message_id_headers)):
        log.error("a lost write left %d of its %d rows", len(found), len(message_id_headers))
        return None
    return found
