"""Rows: the database is the source of truth for every email and its state."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    ForeignKey,
    Index,
    LargeBinary,
    Select,
    String,
    Text,
    false,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dashboard.extensions import db
from dashboard.models.base import IDS_NEVER_REUSED, utcnow


class MessageStatus(StrEnum):
    # Imported from a CSV and waiting for a person to confirm: never claimed, never final.
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    RETRYING = "retrying"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Sent, then returned by the recipient's server for good (a hard bounce read back).
    BOUNCED = "bounced"


FINAL_STATUSES = frozenset(
    {MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.CANCELLED, MessageStatus.BOUNCED}
)
# States a worker may claim a message from.
CLAIMABLE_STATUSES = (MessageStatus.QUEUED, MessageStatus.RETRYING)

# Messages that have not been handed to a worker yet, and so can still be cancelled.
CANCELLABLE_STATUSES = (
    MessageStatus.DRAFT,
    MessageStatus.SCHEDULED,
    MessageStatus.QUEUED,
    MessageStatus.RETRYING,
)


class Campaign(db.Model):
    """One submission (a form, an API call, a CLI call, a CSV): the content its messages share."""

    __table_args__ = IDS_NEVER_REUSED

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(32), default="transactional")
    from_address: Mapped[str] = mapped_column(String(320))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(998))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a scheduled campaign is due (naive UTC); its scheduled messages carry the same time.
    send_at: Mapped[datetime | None]
    # Flags a person (or the failure guard) sets; the status itself is derived from the messages.
    paused_at: Mapped[datetime | None]
    pause_reason: Mapped[str | None] = mapped_column(Text)
    cancelled_at: Mapped[datetime | None]
    # The failure guard counts only attempts after the last resume.
    resumed_at: Mapped[datetime | None]
    # Subject and bodies are Jinja templates rendered per recipient with its `merge_data`.
    merge: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Who submitted it (a user id): senders see and change only their own. None from the
    # console or from before owners existed. Users are disabled, never deleted.
    owner_id: Mapped[int | None] = mapped_column(index=True)
    # The sending account or pool its mail goes through; neither: the default account (MAIL_*).
    # No foreign key, as for owner_id: adding one would make SQLite copy the table (and its
    # cascades); an account or pool a campaign names is never deleted (sending.accounts).
    account_id: Mapped[int | None]
    pool_id: Mapped[int | None]

    messages: Mapped[list[Message]] = relationship(
        back_populates="campaign", order_by="Message.id", lazy="raise_on_sql"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="campaign", order_by="Attachment.id", cascade="all, delete-orphan"
    )

    def progress(self) -> CampaignProgress:
        """Counts by state, read from the messages (never kept by hand)."""
        return progress_of([self])[self.id]

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None


def held_campaigns() -> Select[tuple[int]]:
    """The ids of campaigns a person (or the failure guard) paused or cancelled: their messages
    are neither claimed nor dispatched nor published again."""
    return select(Campaign.id).where(
        or_(Campaign.paused_at.is_not(None), Campaign.cancelled_at.is_not(None))
    )


def counts_by_state(campaign_ids: Collection[int]) -> dict[int, dict[MessageStatus, int]]:
    """How many messages each campaign has in each state, in one query: the one place a
    campaign's counts are computed (its page, the lists, the statistics and the API read them).
    A status this version does not know is not counted."""
    counts: dict[int, dict[MessageStatus, int]] = {cid: {} for cid in campaign_ids}
    if not counts:
        return counts
    rows = db.session.execute(
        select(Message.campaign_id, Message.status, func.count())
        .where(Message.campaign_id.in_(list(counts)))
        .group_by(Message.campaign_id, Message.status)
    )
    known = {status.value for status in MessageStatus}
    for campaign_id, status, count in rows:
        if status in known:
            counts[campaign_id][MessageStatus(status)] = count
    return counts


def progress_of(campaigns: Sequence[Campaign]) -> dict[int, CampaignProgress]:
    """Each campaign's progress (counts by state and its pause), by id."""
    counts = counts_by_state([campaign.id for campaign in campaigns])
    return {c.id: CampaignProgress(counts[c.id], paused=c.is_paused) for c in campaigns}


@dataclass(frozen=True)
class CampaignProgress:
    counts: dict[MessageStatus, int] = field(default_factory=dict)
    paused: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(n for status, n in self.counts.items() if status in FINAL_STATUSES)

    @property
    def is_final(self) -> bool:
        return self.done == self.total

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else int(100 * self.done / self.total)

    @property
    def status(self) -> str:
        """One word for the whole campaign, derived from its messages' states."""
        count = self.counts.get
        if count(MessageStatus.DRAFT):
            return "draft"
        if not self.is_final:
            if self.paused:
                return "paused"
            if count(MessageStatus.SENDING) or self.done:
                return "sending"
            if count(MessageStatus.RETRYING):
                return "retrying"
            if count(MessageStatus.SCHEDULED) == self.total:
                return "scheduled"
            return "queued"
        # A bounced message was sent (its bounce came back later).
        sent = count(MessageStatus.SENT, 0) + count(MessageStatus.BOUNCED, 0)
        if sent == self.total:
            return "sent"
        if count(MessageStatus.FAILED) == self.total:
            return "failed"
        if count(MessageStatus.CANCELLED) == self.total:
            return "cancelled"
        return "partly sent" if sent else "failed"

    def as_dict(self) -> dict[str, int]:
        return {status.value: self.counts.get(status, 0) for status in MessageStatus}


class Message(db.Model):
    """One recipient of a campaign, with its delivery state."""

    __table_args__ = (
        Index("ix_message_campaign_status", "campaign_id", "status"),
        IDS_NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    to_address: Mapped[str] = mapped_column(String(320))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    # Indexed through ix_message_status_id (status first), below.
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_code: Mapped[int | None]
    last_reply: Mapped[str | None] = mapped_column(Text)
    # Kept across retries so a resend carries the same Message-ID (receivers can de-duplicate).
    message_id_header: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    # The lease a `sending` row is held by: the claiming batch's token, renewed while it works;
    # past `lease_expires_at` the row is stale and the sweeper may give it to another batch.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_expires_at: Mapped[datetime | None]
    # When a `scheduled` or `retrying` message is due; the beat dispatcher queues it then.
    next_attempt_at: Mapped[datetime | None]
    # Times the sweeper resent it after it was stuck in `sending` (at most once: at-least-once).
    stale_resends: Mapped[int] = mapped_column(default=0, server_default="0")
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # A merge campaign's variables for this recipient (a CSV row), as a JSON object.
    merge_data: Mapped[str | None] = mapped_column(Text)
    # Bounces read back after the send (dashboard/bounces/): soft ones counted, a complaint's time.
    soft_bounces: Mapped[int] = mapped_column(default=0, server_default="0")
    complained_at: Mapped[datetime | None]
    # The subject as rendered for this recipient when a worker built it for sending; None
    # while it is the campaign's subject as typed (plain mail, or not built yet).
    subject: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[Campaign] = relationship(back_populates="messages")
    attempts_log: Mapped[list[DeliveryAttempt]] = relationship(
        back_populates="message", order_by="DeliveryAttempt.id", lazy="raise_on_sql"
    )

    @property
    def subject_as_sent(self) -> str:
        """The subject the recipient gets: rendered for them once built, else as typed."""
        return self.subject if self.subject is not None else self.campaign.subject

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES


class DeliveryAttempt(db.Model):
    """One try at handing a message to the SMTP server, with the server's answer."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # Indexed through ix_delivery_attempt_message_outcome (message first), below.
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    outcome: Mapped[str] = mapped_column(String(16))
    smtp_code: Mapped[int | None]
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str] = mapped_column(String(200), default="")
    task_id: Mapped[str | None] = mapped_column(String(64))
    duration_ms: Mapped[int] = mapped_column(default=0)
    # Indexed: /metrics reads the attempts of the last few minutes on every scrape.
    finished_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    message: Mapped[Message] = relationship(back_populates="attempts_log")


class Attachment(db.Model):
    """A file sent with every message of its campaign, kept in the database so that any worker
    can read it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaign.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    data: Mapped[bytes] = mapped_column(LargeBinary)

    campaign: Mapped[Campaign] = relationship(back_populates="attachments")

    @property
    def size(self) -> int:
        return len(self.data)


# Indexes the history and statistics pages read through (migration 7c3e5a91d2f4); each one
# keeps a view fast at a million messages without a table scan. See bench/history_bench.py.
Index("ix_message_status_id", Message.status, Message.id)  # status filter, newest first
Index("ix_message_to_address_lower", func.lower(Message.to_address))  # recipient search
Index("ix_message_updated_at", Message.updated_at)  # date-range filter (last activity)
Index("ix_message_status_updated_at", Message.status, Message.updated_at)  # both together
# Only sent rows: a row is written many times before it is sent (stored, confirmed, claimed),
# and every write of a row with no send time would keep its entry up (PostgreSQL writes a new
# entry in every index on each such UPDATE). Each query that reads them says `sent_at` is set
# (a comparison on it says so too), which is how both databases know the index fits.
SENT = text("message.sent_at IS NOT NULL")
Index("ix_message_sent_at", Message.sent_at, sqlite_where=SENT, postgresql_where=SENT)  # per hour
Index(  # campaign durations and pace
    "ix_message_campaign_sent_at",
    Message.campaign_id,
    Message.sent_at,
    sqlite_where=SENT,
    postgresql_where=SENT,
)
# The sweeper's: only rows being sent, so no other write of a row keeps an entry up. A query
# reads it by saying `SENDING_ROWS` (a literal: a bound status would not tell either database
# that the index fits).
SENDING_ROWS = text(f"message.status = '{MessageStatus.SENDING.value}'")
Index(
    "ix_message_sending_lease_expires_at",
    Message.lease_expires_at,
    sqlite_where=SENDING_ROWS,
    postgresql_where=SENDING_ROWS,
)
# The dispatcher's: only rows waiting for a time (scheduled, retrying, or unpublished), so the
# claim and the outcome of a campaign's rows, which have none, leave it alone.
Index(
    "ix_message_status_next_attempt",
    Message.status,
    Message.next_attempt_at,
    sqlite_where=Message.next_attempt_at.is_not(None),
    postgresql_where=Message.next_attempt_at.is_not(None),
)
# Partial indexes: only the few retried or failed rows, with what their counts read.
Index(
    "ix_message_retried_updated_at",
    Message.updated_at,
    Message.status,
    Message.attempts,
    Message.id,
    sqlite_where=Message.attempts > 1,
    postgresql_where=Message.attempts > 1,
)
Index(
    "ix_message_failed_updated_at",
    Message.updated_at,
    Message.status,
    Message.last_code,
    Message.to_address,
    sqlite_where=Message.status == "failed",
    postgresql_where=Message.status == "failed",
)
Index("ix_delivery_attempt_message_outcome", DeliveryAttempt.message_id, DeliveryAttempt.outcome)
Index("ix_campaign_created_at", Campaign.created_at)  # campaigns of a range
# A bounce without its bounce address is matched by the returned message's Message-ID.
Index("ix_message_message_id_header", Message.message_id_header)
# The rows that bounced softly or complained, few in any campaign, counted on every poll of its
# page, and the complaints of a range. The conditions are written as SQL text so that both
# databases match a query's terms to them (a bound 0 would not prove `soft_bounces > 0`).
SOFT_BOUNCED = text("message.soft_bounces > 0")
COMPLAINED = text("message.complained_at IS NOT NULL")
Index(  # complaints of a range
    "ix_message_complained_at",
    Message.complained_at,
    sqlite_where=COMPLAINED,
    postgresql_where=COMPLAINED,
)
Index(
    "ix_message_soft_bounced",
    Message.campaign_id,
    Message.soft_bounces,
    sqlite_where=SOFT_BOUNCED,
    postgresql_where=SOFT_BOUNCED,
)
Index(
    "ix_message_complained",
    Message.campaign_id,
    sqlite_where=COMPLAINED,
    postgresql_where=COMPLAINED,
)
