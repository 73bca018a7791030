"""What a claimed batch sends: each message's bytes, or the reason it must not be sent.

Every campaign in a batch, merge or not, is rendered from one MIME skeleton (see
`sending/envelopes.py`). Suppressed addresses are refused here, so the list applies to every
send, whichever way the message was submitted.

Messages are rendered as the batch sends them, not all before: the SMTP session renders the
next one while the server answers the last (`render_ahead`), so that wait is not idle. A row
that cannot be rendered is refused before its envelope goes on the wire, as before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row

from dashboard.mail.merge import TemplateProblem
from dashboard.mail.smtp import DeliveryResult, Envelope, Outcome
from dashboard.sending.envelopes import CampaignRenderer, load_for_sending
from dashboard.sending.suppression import suppressed_among


def _refusal(message_id: int, reply: str) -> DeliveryResult:
    return DeliveryResult(message_id, Outcome.PERMANENT, None, reply, 0)


@dataclass
class PreparedBatch:
    refused: list[DeliveryResult] = field(default_factory=list)  # known before any rendering
    campaign_ids: set[int] = field(default_factory=set)
    # message id -> (campaign id, recipient's domain): for the pause checks and the log lines
    recipients: dict[int, tuple[int, str]] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)  # counting the one being made now
    #: Each rendered message's subject, by id, where it is not its campaign's.
    subjects: dict[int, str] = field(default_factory=dict)
    # The rows to render, in id order, each with its campaign's renderer.
    rows: list[tuple[Row[Any], CampaignRenderer]] = field(default_factory=list)
    _next: int = 0  # index in `rows` of the next message `envelopes` hands out
    _ahead: Envelope | DeliveryResult | None = None  # that message, rendered ahead

    def envelopes(self, refuse: Callable[[DeliveryResult], None]) -> Iterator[Envelope]:
        """Each message's envelope, in id order, rendered now unless it was ahead; a row
        that cannot be rendered goes to `refuse` instead."""
        while self._next < len(self.rows):
            rendered = self._ahead or self._render(self._next)
            self._ahead = None
            self._next += 1
            if isinstance(rendered, Envelope):
                yield rendered
            else:
                refuse(rendered)

    def render_ahead(self) -> None:
        """Render the message `envelopes` hands out next, if not done (for the SMTP session to
        call while it waits for the server). Never raises: an unexpected error is left for that
        message's turn, where the session finishes the message in flight before it goes up."""
        if self._ahead is None and self._next < len(self.rows):
            with contextlib.suppress(Exception):
                self._ahead = self._render(self._next)

    def _render(self, index: int) -> Envelope | DeliveryResult:
        message, renderer = self.rows[index]
        try:
            envelope = renderer.envelope(message, dots_doubled=True)
        except TemplateProblem as problem:
            return _refusal(message.id, f"Not sent: the {problem.field} template: {problem}")
        except ValueError as error:  # one row's bad value must not fail its neighbours
            return _refusal(message.id, f"Not sent: {error}")
        subject = renderer.rendered_subjects.pop(message.id, None)
        if subject is not None:
            self.subjects[message.id] = subject
        return envelope


def prepare_batch(message_ids: Sequence[int], config: Mapping[str, Any]) -> PreparedBatch:
    """Load the claimed messages, refuse those that must not be sent (suppressed, or their
    campaign's sender cannot be written), and line up the others for rendering."""
    messages, campaigns = load_for_sending(message_ids)
    prepared = PreparedBatch(
        campaign_ids={m.campaign_id for m in messages},
        recipients={
            m.id: (m.campaign_id, m.to_address.rpartition("@")[2].lower()) for m in messages
        },
        attempts={m.id: m.attempts for m in messages},
    )
    suppressed = suppressed_among(m.to_address for m in messages)
    renderers: dict[int, CampaignRenderer | ValueError] = {}
    for message in messages:  # id order
        if message.to_address.lower() in suppressed:
            prepared.refused.append(
                _refusal(message.id, "Not sent: the address is on the suppression list.")
            )
            continue
        renderer = renderers.get(message.campaign_id)
        if renderer is None:
            try:
                renderer = CampaignRenderer(campaigns[message.campaign_id], config)
            except ValueError as error:  # the campaign's own sender cannot be written
                renderer = error
            renderers[message.campaign_id] = renderer
        if isinstance(renderer, ValueError):
            prepared.refused.append(_refusal(message.id, f"Not sent: {renderer}"))
        else:
            prepared.rows.append((message, renderer))
    return prepared
