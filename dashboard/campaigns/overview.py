"""What the campaign page and the campaign API show: import progress and preview, counts by
state, speed and time left. Read from the rows every time; nothing is kept by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from dashboard.campaigns.csv_reading import encoding_label
from dashboard.campaigns.empty_fields import EmptyField, empty_fields
from dashboard.campaigns.finish import FinishEstimate, estimate_finish
from dashboard.campaigns.import_report import (
    campaign_is_live,
    campaign_status,
    import_counts,
    import_of,
    problems_of,
)
from dashboard.extensions import db
from dashboard.mail.merge import TemplateProblem, compile_merge
from dashboard.mail.reading import read_message
from dashboard.models import (
    Campaign,
    CampaignProgress,
    CsvImport,
    CsvProblem,
    Message,
    MessageStatus,
    utcnow,
)
from dashboard.reporting.bounce_counts import BounceCounts, bounce_counts
from dashboard.reporting.campaign_stats import overall_rate
from dashboard.sending.envelopes import CampaignRenderer
from dashboard.sending.stored_texts import template_problem, translated

PREVIEW_MESSAGES = 3
PROBLEMS_SHOWN = 20
RATE_WINDOW_SECONDS = 10


@dataclass
class RenderedPreview:
    to: str
    message_id: int | None = None  # its HTML body is served alone, by the preview route
    subject: str = ""
    text: str = ""
    html: str | None = None
    raw: str = ""
    error: str | None = None


@dataclass
class CampaignOverview:
    campaign: Campaign
    progress: CampaignProgress
    csv_import: CsvImport | None
    problems: list[CsvProblem] = field(default_factory=list)
    preview: list[RenderedPreview] = field(default_factory=list)
    messages_per_second: float | None = None
    seconds_left: float | None = None
    finish: FinishEstimate | None = None  # under the account's rate limit or daily quota
    # Merge fields the templates use that are empty in some imported rows.
    empty_fields: list[EmptyField] = field(default_factory=list)
    bounces: BounceCounts = field(default_factory=BounceCounts)  # read back after the send

    @property
    def status(self) -> str:
        return campaign_status(self.progress, self.csv_import)

    @property
    def encoding_label(self) -> str:
        """The detected encoding as a person names it ("Windows-1258 (Vietnamese Excel's ...")."""
        return encoding_label(self.csv_import.encoding) if self.csv_import else ""

    @property
    def is_live(self) -> bool:
        """Whether anything on the page will still change without a person acting."""
        return campaign_is_live(self.status, self.progress)

    @property
    def can_confirm(self) -> bool:
        return self.status == "draft" and self.campaign.cancelled_at is None

    @property
    def can_pause(self) -> bool:
        return self.is_live and self.status != "importing" and not self.campaign.is_paused

    @property
    def can_resume(self) -> bool:
        return self.campaign.is_paused and self.campaign.cancelled_at is None

    @property
    def can_cancel(self) -> bool:
        return self.campaign.cancelled_at is None and (
            self.can_confirm or not self.progress.is_final
        )

    @property
    def can_retry(self) -> bool:
        return (
            self.campaign.cancelled_at is None
            and self.progress.counts.get(MessageStatus.FAILED, 0) > 0
        )

    def counts(self) -> dict[str, int]:
        return import_counts(self.csv_import) if self.csv_import else {}


def overview(campaign: Campaign, *, with_preview: bool = True) -> CampaignOverview:
    """Everything the page shows about a campaign, in a handful of queries."""
    csv_import = import_of(campaign.id)
    if csv_import is not None and not csv_import.is_done:
        # Counting a million half-imported drafts every poll would slow the import down.
        return CampaignOverview(campaign, CampaignProgress(), csv_import)
    result = CampaignOverview(campaign, campaign.progress(), csv_import)
    if csv_import is not None:
        result.problems = problems_of(csv_import.id, PROBLEMS_SHOWN)
        result.empty_fields = empty_merge_fields(campaign, csv_import)
    if with_preview and result.status == "draft":
        result.preview = render_preview(campaign)
    result.messages_per_second, result.seconds_left = _speed(campaign.id, result.progress)
    if result.progress.done:
        result.bounces = bounce_counts(campaign.id)
    if campaign.is_paused:  # nothing goes while paused: no time left or finish can be told
        result.seconds_left = None
    elif result.is_live and result.status != "importing":
        remaining = (
            result.progress.total
            - result.progress.done
            - result.progress.counts.get(MessageStatus.DRAFT, 0)
        )
        now = utcnow()
        result.finish = estimate_finish(
            remaining,
            current_app.config,
            bulk=campaign.queue == "bulk",
            measured_per_second=result.messages_per_second or None,
            now=now,
        )
        if result.finish is not None and result.finish.finishes_at is not None:
            # The limits know better than the recent pace: a campaign past today's quota is
            # not done in `remaining / pace` seconds, and the two answers must not disagree.
            left = (result.finish.finishes_at - now).total_seconds()
            result.seconds_left = round(max(0.0, left), 1)
    return result


def empty_merge_fields(campaign: Campaign, csv_import: CsvImport) -> list[EmptyField]:
    """The merge fields the templates use that are empty in some rows, with how many, in the
    file's column order (the counts were taken while importing)."""
    counts = dict(csv_import.empty_counts or {})
    try:
        template = compile_merge(campaign.subject, campaign.text_body, campaign.html_body)
    except TemplateProblem:
        return []
    if "name" in template.variables and "name" not in counts:
        # No `name` column: {{ name }} is the address's display name, empty for a bare address.
        counts["name"] = db.session.scalar(
            select(func.count()).where(Message.campaign_id == campaign.id, Message.to_name == "")
        )
    return empty_fields(template, counts)


def render_preview(campaign: Campaign, count: int = PREVIEW_MESSAGES) -> list[RenderedPreview]:
    """The first messages rendered by the very code the workers send with."""
    messages = db.session.scalars(
        select(Message).where(Message.campaign_id == campaign.id).order_by(Message.id).limit(count)
    ).all()
    if not messages:
        return []
    previews = []
    try:
        renderer = CampaignRenderer(campaign, current_app.config)
    except ValueError as error:  # the sender cannot be written: no message can be built
        renderer, sender_problem = None, str(error)
    for message in messages:
        shown = (
            f"{message.to_name} <{message.to_address}>" if message.to_name else message.to_address
        )
        if renderer is None:
            previews.append(RenderedPreview(to=shown, error=sender_problem))
            continue
        try:
            raw = renderer.envelope(message).data
        except TemplateProblem as problem:
            previews.append(RenderedPreview(to=shown, error=template_problem(problem)))
            continue
        except ValueError as error:  # a merged value no header can carry: refused, named
            previews.append(RenderedPreview(to=shown, error=str(error)))
            continue
        parts = read_message(raw)
        previews.append(
            RenderedPreview(
                to=shown,
                message_id=message.id,
                subject=dict(parts.headers).get("Subject", ""),
                text=(parts.text or "").replace("\r\n", "\n"),
                html=parts.html,
                raw=raw.decode("ascii", "replace"),
            )
        )
    return previews


def _speed(campaign_id: int, progress: CampaignProgress) -> tuple[float | None, float | None]:
    """Messages per second (over the last seconds while sending, overall once done) and the
    time left at that pace. While it sends, only the first send and the recent ones are read
    (an index seek and a short range), not every sent row: the page asks on every poll."""
    sent = (Message.campaign_id == campaign_id, Message.sent_at.is_not(None))
    first = db.session.scalar(
        select(Message.sent_at).where(*sent).order_by(Message.sent_at).limit(1)
    )
    if first is None:
        return None, None
    if progress.is_final:
        count, last = db.session.execute(
            select(func.count(Message.sent_at), func.max(Message.sent_at)).where(*sent)
        ).one()
        rate = overall_rate(count, first, last)
        return (None if rate is None else round(rate, 1)), 0.0
    now = utcnow()
    window_start = max(first, now - timedelta(seconds=RATE_WINDOW_SECONDS))
    recent = db.session.scalar(
        select(func.count()).where(
            Message.campaign_id == campaign_id, Message.sent_at >= window_start
        )
    )
    span = (now - window_start).total_seconds()
    if not recent or span <= 0:
        return 0.0, None
    rate = recent / span
    remaining = progress.total - progress.done - progress.counts.get(MessageStatus.DRAFT, 0)
    return round(rate, 1), round(remaining / rate, 1)


def overview_json(view: CampaignOverview, urls: dict[str, str]) -> dict[str, Any]:
    """The API's shape of an overview (documented by `CampaignOut`)."""
    csv_import = view.csv_import
    return {
        "id": view.campaign.id,
        "status": view.status,
        "subject": view.campaign.subject,
        "created_at": view.campaign.created_at.isoformat(timespec="seconds") + "Z",
        "total": view.progress.total,
        "counts": view.progress.as_dict(),
        "paused": view.campaign.is_paused,
        "cancelled": view.campaign.cancelled_at is not None,
        "messages_per_second": view.messages_per_second,
        "seconds_left": view.seconds_left,
        "finish": None if view.finish is None else finish_json(view.finish),
        "import": None
        if csv_import is None
        else {
            "status": csv_import.status,
            "error": csv_import.error,
            "filename": csv_import.filename,
            "encoding": csv_import.encoding,
            "delimiter": csv_import.delimiter,
            "columns": csv_import.columns,
            "percent": csv_import.percent,
            **view.counts(),
            "rows_per_second": csv_import.rows_per_second,
            "empty_fields": [
                {"variable": empty.variable, "rows": empty.rows} for empty in view.empty_fields
            ],
            "invalid_rows_url": urls["invalid_rows"],
        },
        "invalid_rows": [
            {"line": p.line, "email": p.email, "reason": translated(p.reason)}
            for p in view.problems
        ],
        "preview": [
            {"to": p.to, "subject": p.subject, "text": p.text, "html": p.html, "error": p.error}
            for p in view.preview
        ],
        "bounces": {
            "bounced": view.bounces.bounced,
            "soft_bounces": view.bounces.soft_bounces,
            "complaints": view.bounces.complaints,
        },
        "status_url": urls["status"],
    }


def finish_json(finish: FinishEstimate) -> dict[str, Any]:
    """The API's shape of a finish estimate (documented by `FinishOut`)."""
    return {
        "remaining": finish.remaining,
        "per_second": finish.per_second,
        "per_day": finish.per_day,
        "left_today": finish.left_today,
        "finishes_at": finish.finishes_at.isoformat(timespec="seconds") + "Z"
        if finish.finishes_at
        else None,
        "days": finish.days,
        "waits_for_tomorrow": finish.waits_for_tomorrow,
    }


def campaign_messages(campaign_id: int, limit: int | None = None) -> list[Message]:
    """A campaign's messages in id order (the first `limit` of them)."""
    return list(
        db.session.scalars(
            select(Message)
            .where(Message.campaign_id == campaign_id)
            .order_by(Message.id)
            .limit(limit)
        )
    )
