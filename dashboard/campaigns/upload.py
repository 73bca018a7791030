"""Starting a CSV or .xlsx campaign: the upload is checked (layout, encoding, templates against
its columns) and stored in the database in chunks, so any worker can read it; then the import task
is published. The web request never reads the whole file into memory and never waits for the
import (see `importer.py`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import IO

from flask import current_app
from sqlalchemy import insert

from dashboard.campaigns.csv_reading import SNIFF_BYTES, CsvFormatError, sniff_layout
from dashboard.campaigns.xlsx_reading import is_workbook, sniff_workbook
from dashboard.database import transaction
from dashboard.extensions import db
from dashboard.mail.addresses import Mailbox
from dashboard.mail.merge import TemplateProblem, check_merge, compile_merge
from dashboard.models import CHUNK_BYTES, Campaign, CsvChunk, CsvImport, IdempotencyKey
from dashboard.sending.publishing import send_task
from dashboard.sending.queues import IMPORT_CSV
from dashboard.sending.stored_texts import template_field_problems, translated, translated_joined

log = logging.getLogger(__name__)

MB = 1024 * 1024


class CampaignInputError(ValueError):
    """Problems with what a person submitted, by field ("file", "subject", "text", ...)."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class CampaignContent:
    """The templates and sender of a CSV campaign, already validated (see campaign_schemas)."""

    subject: str
    text: str
    html: str | None
    sender: Mailbox
    # The sending account or pool its mail goes through (neither: the default account).
    account_id: int | None = None
    pool_id: int | None = None


def create_csv_campaign(
    upload: IO[bytes],
    *,
    filename: str,
    content: CampaignContent,
    source: str,
    idempotency_key: IdempotencyKey | None = None,
    owner_id: int | None = None,
) -> Campaign:
    """Check the file's layout and the templates against its columns, store the file in chunks,
    and start the import task. CampaignInputError (nothing stored) when something is wrong. An
    `idempotency_key` row is stored with the campaign, in its transaction."""
    max_fields = current_app.config["CSV_MAX_FIELDS"]
    problems: dict[str, str] = {}
    layout = template = None
    try:
        if is_workbook(filename):
            layout = sniff_workbook(upload, max_fields=max_fields)
            sample = b""
        else:
            sample = upload.read(SNIFF_BYTES)
            layout = sniff_layout(sample, complete=len(sample) < SNIFF_BYTES, max_fields=max_fields)
    except CsvFormatError as error:
        problems["file"] = translated(str(error))
    try:
        template = compile_merge(content.subject, content.text, content.html)
    except TemplateProblem as problem:
        problems.update(template_field_problems(problem))
    if layout and template and (unknown := check_merge(template, layout.columns)):
        problems["template"] = translated_joined(unknown)
    if problems or not (layout and template):
        raise CampaignInputError(problems)

    campaign = Campaign(
        source=source,
        queue="bulk",
        merge=True,
        from_address=content.sender.address,
        from_name=content.sender.name,
        subject=content.subject,
        text_body=content.text,
        html_body=content.html,
        owner_id=owner_id,
        account_id=content.account_id,
        pool_id=content.pool_id,
    )
    csv_import = CsvImport(
        campaign=campaign,
        filename=filename[:255],
        encoding=layout.encoding,
        delimiter=layout.delimiter,
        columns_json=json.dumps(list(layout.columns), ensure_ascii=False),
    )
    db.session.add_all([campaign, csv_import])
    if idempotency_key is not None:
        idempotency_key.campaign = campaign
        db.session.add(idempotency_key)
    with transaction():
        db.session.flush()
        csv_import.size_bytes = _store_chunks(csv_import.id, sample, upload)
    _start_import(csv_import.id)
    return campaign


def _store_chunks(import_id: int, sample: bytes, upload: IO[bytes]) -> int:
    limit = current_app.config["CSV_MAX_UPLOAD_MB"] * MB
    size, seq, data = 0, 0, sample + upload.read(CHUNK_BYTES - len(sample))
    while data:
        size += len(data)
        if size > limit:
            raise CampaignInputError(
                {
                    "file": f"The file is larger than {limit // MB} MB (CSV_MAX_UPLOAD_MB); "
                    "split it into smaller files."
                }
            )
        db.session.execute(insert(CsvChunk), [{"import_id": import_id, "seq": seq, "data": data}])
        seq += 1
        data = upload.read(CHUNK_BYTES)
    return size


def restart_import(csv_import: CsvImport) -> bool:
    """Publish a stored upload's import again (its first publish was lost, or its worker died);
    harmless if it is running or done: the task claims the import before it starts."""
    if csv_import.is_done:
        return False
    _start_import(csv_import.id)
    return True


def _start_import(import_id: int) -> None:
    try:
        send_task(IMPORT_CSV, [import_id], queue="bulk")
    except Exception as error:  # the stored upload waits in the database for a new publish
        log.warning("could not publish the import of upload %s: %s", import_id, error)


def upload_limit() -> int:
    """The request limit of a CSV upload: the file's limit plus room for the templates."""
    config = current_app.config
    return config["CSV_MAX_UPLOAD_MB"] * MB + 2 * config["MAX_BODY_BYTES"] + MB


def too_large_upload() -> str:
    """What a person is told when an upload is over the limit."""
    return (
        f"The file is larger than {current_app.config['CSV_MAX_UPLOAD_MB']} MB "
        "(CSV_MAX_UPLOAD_MB); split it into smaller files."
    )
