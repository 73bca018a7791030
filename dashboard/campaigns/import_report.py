"""What an import found, for the page and the API: the counts, and the invalid rows with their
line numbers and reasons (also as a CSV download)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from flask import Response, stream_with_context
from sqlalchemy import select

from dashboard.extensions import db
from dashboard.models import CampaignProgress, CsvImport, CsvProblem, ImportStatus
from dashboard.reporting.csv_cells import spreadsheet_safe
from dashboard.sending.stored_texts import translated


def import_of(campaign_id: int) -> CsvImport | None:
    return db.session.scalar(select(CsvImport).where(CsvImport.campaign_id == campaign_id))


def campaign_status(progress: CampaignProgress, csv_import: CsvImport | None) -> str:
    """One word for where a campaign is: its import's, while that runs or when it failed, else
    its messages' (`CampaignProgress.status`)."""
    if csv_import is not None and not csv_import.is_done:
        return "importing"
    if csv_import is not None and csv_import.status == ImportStatus.FAILED:
        return "import failed"
    return progress.status


def campaign_is_live(status: str, progress: CampaignProgress) -> bool:
    """Whether a campaign in `status` (`campaign_status`) will still change without a person
    acting: what its page and the list poll for."""
    if status == "importing":
        return True
    return status not in ("draft", "import failed") and not progress.is_final


def problems_of(import_id: int, limit: int | None = None) -> list[CsvProblem]:
    query = select(CsvProblem).where(CsvProblem.import_id == import_id).order_by(CsvProblem.line)
    return list(db.session.scalars(query.limit(limit) if limit else query))


def stream_problems_csv(import_id: int) -> Callable[[], Any]:
    """A generator factory yielding the invalid rows as CSV text, a thousand at a time."""

    def generate():
        yield "\ufeffline,email,reason\r\n"  # BOM: Excel then opens it as UTF-8
        last = 0
        while True:
            batch = db.session.execute(
                select(CsvProblem.id, CsvProblem.line, CsvProblem.email, CsvProblem.reason)
                .where(CsvProblem.import_id == import_id, CsvProblem.id > last)
                .order_by(CsvProblem.id)
                .limit(1000)
            ).all()
            if not batch:
                return
            out = io.StringIO()
            writer = csv.writer(out)
            for row in batch:
                writer.writerow(
                    [
                        row.line,
                        spreadsheet_safe(row.email),
                        spreadsheet_safe(translated(row.reason)),
                    ]
                )
            last = batch[-1].id
            yield out.getvalue()

    return generate


def import_counts(csv_import: CsvImport) -> dict[str, int]:
    """The preview's counts, as the page and the API show them."""
    return {
        "rows_read": csv_import.rows_read,
        "valid": csv_import.rows_valid,
        "invalid": csv_import.rows_invalid,
        "duplicates": csv_import.duplicates,
        "suppressed": csv_import.suppressed,
    }


def invalid_rows_download(csv_import: CsvImport) -> Response:
    """The import's invalid rows as a streamed CSV attachment (for the page and the API)."""
    filename = f"invalid-rows-campaign-{csv_import.campaign_id}.csv"
    return Response(
        stream_with_context(stream_problems_csv(csv_import.id)()),
        mimetype="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
