"""The shape of `GET /api/v1/stats`, documented in the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StatsRangeOut(BaseModel):
    start: str = Field(description="Start of the range, UTC, inclusive.")
    end: str = Field(description="End of the range, UTC, exclusive.")
    unit: str = Field(description="Bucket of the series: hour or day, of `zone`.")
    zone: str = Field(description="The zone whose hours and days the series counts (IANA name).")


class StatsTotals(BaseModel):
    """Sent, failed and cancelled in the range (sent and failed are the series' sums); every
    other status is what waits now, whatever the range."""

    counts: dict[str, int] = Field(description="Messages by status.")
    sent: int
    failed: int
    queued: int = Field(description="Waiting now.")
    scheduled: int = Field(description="Waiting now for their time.")
    bounced: int = Field(description="Sent, then bounced for good (read back) in the range.")
    complaints: int = Field(description="Reported as spam by their recipient in the range.")
    retried: int = Field(description="Tried more than once, last event in the range.")
    duplicates: int = Field(description="Of those, sent more than once.")
    total: int
    success_rate: float | None = Field(description="sent / (sent + failed); null before any.")


class StatsPoint(BaseModel):
    start: str = Field(
        description="Start of the bucket, UTC (a local midnight or hour of the zone)."
    )
    sent: int
    failed: int


class StatsFailureGroup(BaseModel):
    code: int | None
    domain: str
    count: int
    history_url: str = Field(description="The history view of exactly these messages.")


class StatsCampaign(BaseModel):
    id: int
    subject: str
    created_at: str
    recipients: int
    sent: int
    failed: int
    success_rate: float | None
    duration_seconds: float | None
    messages_per_second: float | None


class StatsThroughput(BaseModel):
    campaign_id: int
    per_minute: list[StatsPoint] = Field(description="`sent` is the messages of that minute.")


class StatsResponse(BaseModel):
    """The answer to `GET /api/v1/stats`: the numbers of the statistics page."""

    range: StatsRangeOut
    totals: StatsTotals
    series: list[StatsPoint]
    failures: list[StatsFailureGroup]
    campaigns: list[StatsCampaign]
    throughput: list[StatsThroughput]
