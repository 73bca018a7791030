"""What a claimed batch sends: each message's bytes, or the reason it must not be sent.

Every campaign in a batch, merge or not, is rendered from one MIME skeleton (see
`sending/envelopes.py`). Suppressed addresses are refused here, so the list applies to every
send, whichever way the message was submitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row

from dashboard.extensions import db
from dashboard.mail.merge import TemplateProblem
from dashboard.mail.smtp import DeliveryResult, Envelope, Outcome
from dashboard.sending.envelopes import CampaignRenderer, load_for_sending
from dashboard.sending.outcome_statements import update_subjects
from dashboard.sending.suppression import suppressed_among


@dataclass
class PreparedBatch:
    envelopes: list[Envelope] = field(default_factory=list)
    refused: list[DeliveryResult] = field(default_factory=list)  # failed before any SMTP
    campaign_ids: set[int] = field(default_factory=set)
    # message id -> (campaign id, recipient's domain): for the pause checks and the log lines
    recipients: dict[int, tuple[int, str]] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)  # counting the one being made now


def _refusal(message_id: int, reply: str) -> DeliveryResult:
    return DeliveryResult(message_id, Outcome.PERMANENT, None, reply, 0)


def prepare_batch(message_ids: Sequence[int], config: Mapping[str, Any]) -> PreparedBatch:
    """Load the claimed messages and turn each into an envelope or a refusal."""
    messages, campaigns = load_for_sending(message_ids)
    prepared = PreparedBatch(
        campaign_ids={m.campaign_id for m in messages},
        recipients={
            m.id: (m.campaign_id, m.to_address.rpartition("@")[2].lower()) for m in messages
        },
        attempts={m.id: m.attempts for m in messages},
    )
    suppressed = suppressed_among(m.to_address for m in messages)
    by_campaign: dict[int, list[Row[Any]]] = {}
    for message in messages:
        if message.to_address.lower() in suppressed:
            prepared.refused.append(
                _refusal(message.id, "Not sent: the address is on the suppression list.")
            )
        else:
            by_campaign.setdefault(message.campaign_id, []).append(message)
    subjects: dict[int, str] = {}
    for campaign_id, group in by_campaign.items():
        try:
            renderer = CampaignRenderer(campaigns[campaign_id], config)
        except ValueError as error:  # the campaign's own sender cannot be written
            prepared.refused.extend(_refusal(m.id, f"Not sent: {error}") for m in group)
            continue
        for message in group:
            try:
                prepared.envelopes.append(renderer.envelope(message))
            except TemplateProblem as problem:
                prepared.refused.append(
                    _refusal(message.id, f"Not sent: the {problem.field} template: {problem}")
                )
            except ValueError as error:  # one row's bad value must not fail its neighbours
                prepared.refused.append(_refusal(message.id, f"Not sent: {error}"))
        subjects.update(renderer.rendered_subjects)
    prepared.envelopes.sort(key=lambda envelope: envelope.key)
    keep_rendered_subjects(subjects)
    return prepared


def keep_rendered_subjects(subjects: Mapping[int, str]) -> None:
    """Store each merge message's rendered subject on its row before it is sent, so History
    lists and searches what the recipient got. One statement for the batch; `updated_at` is
    left alone (it is the message's last event, and building it is none)."""
    if not subjects:
        return
    update_subjects(subjects)
    db.session.commit()
