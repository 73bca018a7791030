"""What a claimed batch sends: each message's bytes, or the reason it must not be sent.

Merge campaigns are rendered from one MIME skeleton per batch (see `mail/skeleton.py`); other
campaigns are built as before. Suppressed addresses are refused here, so the list applies to
every send, whichever way the message was submitted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Row

from dashboard.mail.addresses import Mailbox
from dashboard.mail.merge import MergeTemplate, TemplateProblem, compile_merge
from dashboard.mail.mime import AttachmentFile
from dashboard.mail.skeleton import MimeSkeleton, Personalised
from dashboard.mail.smtp import DeliveryResult, Envelope, Outcome
from dashboard.models import Campaign
from dashboard.sending.envelopes import envelope_of, load_for_sending
from dashboard.sending.suppression import suppressed_among
from dashboard.sending.unsubscribe_links import unsubscribe_serializer, unsubscribe_url


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
    merged: dict[int, list[Row[Any]]] = {}
    for message in messages:
        if message.to_address.lower() in suppressed:
            prepared.refused.append(
                _refusal(message.id, "Not sent: the address is on the suppression list.")
            )
        elif campaigns[message.campaign_id].merge:
            merged.setdefault(message.campaign_id, []).append(message)
        else:
            try:
                prepared.envelopes.append(envelope_of(message, campaigns[message.campaign_id]))
            except ValueError as error:  # one bad message must not fail its neighbours
                prepared.refused.append(_refusal(message.id, f"Not sent: {error}"))
    for campaign_id, group in merged.items():
        renderer = CampaignRenderer(campaigns[campaign_id], config)
        for message in group:
            try:
                prepared.envelopes.append(renderer.envelope(message))
            except TemplateProblem as problem:
                prepared.refused.append(
                    _refusal(message.id, f"Not sent: the {problem.field} template: {problem}")
                )
            except ValueError as error:  # one row's bad value must not fail its neighbours
                prepared.refused.append(_refusal(message.id, f"Not sent: {error}"))
    prepared.envelopes.sort(key=lambda envelope: envelope.key)
    return prepared


# A worker compiles the templates of the campaign it sends for every batch: the same strings, a
# few milliseconds of Jinja parsing and code generation each time.
# Compiled templates are immutable; a few campaigns' worth are kept per process.
_compiled_merge = lru_cache(maxsize=8)(compile_merge)


class CampaignRenderer:
    """One campaign's compiled templates and MIME skeleton, rendering each recipient's bytes."""

    def __init__(self, campaign: Campaign, config: Mapping[str, Any]) -> None:
        self.campaign = campaign
        self.template: MergeTemplate = _compiled_merge(
            campaign.subject, campaign.text_body, campaign.html_body
        )
        self.bulk = campaign.queue == "bulk"
        self.skeleton = MimeSkeleton(
            Mailbox(campaign.from_address, campaign.from_name),
            has_html=campaign.html_body is not None,
            attachments=[
                AttachmentFile(a.filename, a.content_type, a.data) for a in campaign.attachments
            ],
            list_unsubscribe=self.bulk,
        )
        self.base_url = config["PUBLIC_BASE_URL"]
        self.max_rendered_bytes: int = config["MERGE_MAX_RENDERED_BYTES"]
        self.serializer = unsubscribe_serializer(config["SECRET_KEY"])

    def envelope(self, message: Row[Any]) -> Envelope:
        """The message's bytes; TemplateProblem when its row does not fit the templates."""
        values: dict[str, str] = json.loads(message.merge_data) if message.merge_data else {}
        values.setdefault("email", message.to_address)
        values.setdefault("name", message.to_name)
        link = None
        if self.bulk:
            link = unsubscribe_url(
                self.base_url, self.serializer, message.to_address, self.campaign.id
            )
            values["unsubscribe_url"] = link
        content = self.template.render(values, max_bytes=self.max_rendered_bytes)
        data = self.skeleton.render(
            Personalised(
                recipient=Mailbox(message.to_address, message.to_name),
                subject=content.subject,
                text=content.text,
                html=content.html,
                message_id=message.message_id_header,
                unsubscribe_url=link,
            )
        )
        return Envelope(message.id, self.campaign.from_address, message.to_address, data)
