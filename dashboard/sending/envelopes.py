"""Claimed messages as the SMTP session sends them: each row's sending columns and its
campaign's content, rendered by the one mail builder (`mail/skeleton.py`).

Every message goes this way: a single email is a campaign with no variables, its subject and
bodies sent exactly as typed (plain email is never a template); a merge campaign's are rendered
per recipient in the sandbox first. The History detail and the campaign preview rebuild a
message with the same renderer, so they show what the workers send.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import selectinload

from dashboard.extensions import db
from dashboard.mail.addresses import Mailbox
from dashboard.mail.attachments import AttachmentFile
from dashboard.mail.merge import MergeTemplate, compile_merge
from dashboard.mail.quoted_printable import Body
from dashboard.mail.skeleton import MimeSkeleton, Personalised
from dashboard.mail.smtp import Envelope
from dashboard.mail.verp import verp_address, verp_key
from dashboard.models import Campaign, Message
from dashboard.sending.unsubscribe_links import UnsubscribeLinks, unsubscribe_serializer

#: The columns a batch reads of each message: what its envelope and its retry need.
SENDING_COLUMNS = (
    Message.id,
    Message.campaign_id,
    Message.to_address,
    Message.to_name,
    Message.message_id_header,
    Message.merge_data,
    Message.attempts,
)

# A worker compiles the templates of the campaign it sends for every batch: the same strings, a
# few milliseconds of Jinja parsing and code generation each time.
# Compiled templates are immutable; a few campaigns' worth are kept per process.
_compiled_merge = lru_cache(maxsize=8)(compile_merge)


def load_for_sending(message_ids: Sequence[int]) -> tuple[list[Row[Any]], dict[int, Campaign]]:
    """The messages' sending columns in id order, and their campaigns with attachments by id.

    Plain rows, not ORM objects: building 500 instrumented objects a batch cost more than the
    queries did.
    """
    messages = list(
        db.session.execute(
            select(*SENDING_COLUMNS).where(Message.id.in_(message_ids)).order_by(Message.id)
        )
    )
    campaigns = db.session.scalars(
        select(Campaign)
        .where(Campaign.id.in_({message.campaign_id for message in messages}))
        .options(selectinload(Campaign.attachments))
    )
    return messages, {campaign.id: campaign for campaign in campaigns}


class CampaignRenderer:
    """One campaign's MIME skeleton (and compiled templates, for a merge), rendering each
    recipient's bytes."""

    def __init__(self, campaign: Campaign, config: Mapping[str, Any]) -> None:
        # Plain copies: a batch commits its outcomes as it sends, which expires the ORM row,
        # and reading it again would cost a query at the next message.
        self.campaign_id: int = campaign.id
        self.subject: str = campaign.subject
        self.text_body: str = campaign.text_body
        self.html_body: str | None = campaign.html_body
        self.sender: str = campaign.from_address
        self.template: MergeTemplate | None = (
            _compiled_merge(campaign.subject, campaign.text_body, campaign.html_body)
            if campaign.merge
            else None
        )
        self.bulk = campaign.queue == "bulk"
        self.skeleton = MimeSkeleton(
            Mailbox(campaign.from_address, campaign.from_name),
            has_html=campaign.html_body is not None,
            attachments=[
                AttachmentFile(a.filename, a.content_type, a.data) for a in campaign.attachments
            ],
            list_unsubscribe=self.bulk,
            boundary_seed=f"campaign-{campaign.id}",
            literals=(
                self.template.literals
                if self.template is not None
                else [body for body in (campaign.text_body, campaign.html_body) if body]
            ),
        )
        self.max_rendered_bytes: int = config["MERGE_MAX_RENDERED_BYTES"]
        self.links = UnsubscribeLinks(
            config["PUBLIC_BASE_URL"], unsubscribe_serializer(config["SECRET_KEY"])
        )
        # With a bounce domain, each message's envelope sender is its own bounce address.
        self.bounce_domain: str = config.get("BOUNCE_DOMAIN", "")
        self.bounce_local: str = config.get("BOUNCE_LOCAL_PART", "bounces")
        self.bounce_key = verp_key(config.get("BOUNCE_SECRET") or config["SECRET_KEY"])
        #: Each rendered message's subject, by message id, where it is not the campaign's.
        self.rendered_subjects: dict[int, str] = {}

    def envelope(self, message: Row[Any] | Message, *, dots_doubled: bool = False) -> Envelope:
        """The message's bytes (as they go after SMTP's DATA with `dots_doubled`: what a batch
        sends). A merge raises TemplateProblem when the row does not fit the templates; a value
        no header can carry raises ValueError naming the field."""
        link = self.links.url(message.to_address, self.campaign_id) if self.bulk else None
        text: Body
        html: Body | None
        if self.template is None:
            subject, text, html = self.subject, self.text_body, self.html_body
        else:
            values: dict[str, str] = json.loads(message.merge_data) if message.merge_data else {}
            values.setdefault("email", message.to_address)
            values.setdefault("name", message.to_name)
            if link is not None:
                values["unsubscribe_url"] = link
            content = self.template.render(values, max_bytes=self.max_rendered_bytes)
            subject, text, html = content.subject, content.text_pieces, content.html_pieces
            if subject != self.subject:
                self.rendered_subjects[message.id] = subject
        data = self.skeleton.render(
            Personalised(
                recipient=Mailbox(message.to_address, message.to_name),
                subject=subject,
                text=text,
                html=html,
                message_id=message.message_id_header,
                unsubscribe_url=link,
            ),
            dots_doubled=dots_doubled,
        )
        sender = self.sender
        if self.bounce_domain:
            sender = verp_address(
                message.id, self.bounce_local, self.bounce_domain, self.bounce_key
            )
        return Envelope(message.id, sender, message.to_address, data, dots_doubled)


def envelope_for(message_id: int, config: Mapping[str, Any]) -> Envelope:
    """One message's bytes, as a worker would build them now (for the History detail)."""
    [message], campaigns = load_for_sending([message_id])
    return CampaignRenderer(campaigns[message.campaign_id], config).envelope(message)
