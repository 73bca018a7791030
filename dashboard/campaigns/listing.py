"""The list of campaigns, newest first, a page at a time: what the Campaigns page and
`GET /api/v1/campaigns` show. Each campaign with its counts by state and one word for where it
is, the same word its own page gives (an import still running reads "importing", not "sent")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import load_only

from dashboard.campaigns.import_report import campaign_is_live, campaign_status
from dashboard.extensions import db
from dashboard.models import Campaign, CampaignProgress, CsvImport, progress_of

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

# What a list shows of a campaign: never its bodies, which may be megabytes each.
_LISTED_COLUMNS = (
    Campaign.id,
    Campaign.subject,
    Campaign.merge,
    Campaign.source,
    Campaign.queue,
    Campaign.created_at,
    Campaign.paused_at,
    Campaign.cancelled_at,
    Campaign.owner_id,
)


@dataclass(frozen=True)
class ListedCampaign:
    campaign: Campaign
    progress: CampaignProgress
    status: str  # as the campaign's page says it: importing, draft, sending, sent...

    @property
    def is_live(self) -> bool:
        """Whether it will still change without a person acting (as its own page polls)."""
        return campaign_is_live(self.status, self.progress)


@dataclass(frozen=True)
class CampaignPage:
    campaigns: list[ListedCampaign]
    older: int | None  # `before=` for the next, older page
    newer: int | None  # `after=` for the previous, newer page

    @property
    def is_live(self) -> bool:
        return any(listed.is_live for listed in self.campaigns)


def campaign_page(
    *,
    owner_id: int | None,
    before: int | None = None,
    after: int | None = None,
    limit: int = PAGE_SIZE,
) -> CampaignPage:
    """The page of campaigns just older than `before`, or just newer than `after`, or the
    newest page; only `owner_id`'s campaigns when it is given."""
    query = select(Campaign).options(load_only(*_LISTED_COLUMNS))
    if owner_id is not None:
        query = query.where(Campaign.owner_id == owner_id)
    if after is not None:
        rows = db.session.scalars(
            query.where(Campaign.id > after).order_by(Campaign.id).limit(limit + 1)
        ).all()
        if not rows:  # nothing newer: the newest page rather than an empty one
            return campaign_page(owner_id=owner_id, limit=limit)
        campaigns = list(reversed(rows[:limit]))
        older, newer = campaigns[-1].id, campaigns[0].id if len(rows) > limit else None
    else:
        if before is not None:
            query = query.where(Campaign.id < before)
        rows = db.session.scalars(query.order_by(Campaign.id.desc()).limit(limit + 1)).all()
        campaigns = list(rows[:limit])
        older = campaigns[-1].id if len(rows) > limit else None
        newer = None
        if before is not None:  # past the oldest (a cursor typed by hand): back from `before`
            newer = campaigns[0].id if campaigns else max(before - 1, 0)
    return CampaignPage(_listed(campaigns), older=older, newer=newer)


def _listed(campaigns: list[Campaign]) -> list[ListedCampaign]:
    progress = progress_of(campaigns)
    imports = {
        csv_import.campaign_id: csv_import
        for csv_import in db.session.scalars(
            select(CsvImport).where(CsvImport.campaign_id.in_([c.id for c in campaigns]))
        )
    }
    return [
        ListedCampaign(c, progress[c.id], campaign_status(progress[c.id], imports.get(c.id)))
        for c in campaigns
    ]
