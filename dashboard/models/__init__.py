"""Every table, in one place: the database is the source of truth for every email and its state.

Import the names from here (`from dashboard.models import Campaign`); importing this package
registers every table with SQLAlchemy's metadata, which the migrations compare against.
May import: `dashboard.extensions` only. Everything else in the app may import the models.
"""

from dashboard.models.accounts import ApiToken, User
from dashboard.models.audit import ACTIONS, AuditEvent, event_values, record_event
from dashboard.models.base import MAX_DATABASE_ID, utcnow
from dashboard.models.bounces import BounceReceipt
from dashboard.models.bulk import (
    CHUNK_BYTES,
    CsvChunk,
    CsvImport,
    CsvProblem,
    ImportStatus,
    MessageTemplate,
    Suppression,
    SuppressionReason,
    find_template,
)
from dashboard.models.caught import CaughtMail
from dashboard.models.counters import DuplicateSend, SentHour
from dashboard.models.idempotency import IdempotencyKey
from dashboard.models.messages import (
    CANCELLABLE_STATUSES,
    CLAIMABLE_STATUSES,
    COMPLAINED,
    FINAL_STATUSES,
    SENDING_ROWS,
    SOFT_BOUNCED,
    Attachment,
    Campaign,
    CampaignProgress,
    DeliveryAttempt,
    Message,
    MessageStatus,
    counts_by_state,
    held_campaigns,
    progress_of,
)
from dashboard.models.sending_accounts import AccountPool, PoolMember, SendingAccount
from dashboard.models.webhooks import (
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "ACTIONS",
    "CANCELLABLE_STATUSES",
    "CHUNK_BYTES",
    "CLAIMABLE_STATUSES",
    "COMPLAINED",
    "FINAL_STATUSES",
    "MAX_DATABASE_ID",
    "SENDING_ROWS",
    "SOFT_BOUNCED",
    "AccountPool",
    "ApiToken",
    "Attachment",
    "AuditEvent",
    "BounceReceipt",
    "Campaign",
    "CampaignProgress",
    "CaughtMail",
    "CsvChunk",
    "CsvImport",
    "CsvProblem",
    "DeliveryAttempt",
    "DeliveryState",
    "DuplicateSend",
    "IdempotencyKey",
    "ImportStatus",
    "Message",
    "MessageStatus",
    "MessageTemplate",
    "PoolMember",
    "SendingAccount",
    "SentHour",
    "Suppression",
    "SuppressionReason",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "counts_by_state",
    "event_values",
    "find_template",
    "held_campaigns",
    "progress_of",
    "record_event",
    "utcnow",
]
