"""A batch renders the next message while the server answers the last: a row that cannot be
rendered is refused at its turn, and an unexpected error waits for that turn too, so it never
breaks into the middle of an SMTP exchange."""

from __future__ import annotations

from collections import namedtuple

import pytest

from dashboard.mail.smtp import DeliveryResult, Envelope, Outcome
from dashboard.sending.batch_content import PreparedBatch

Row = namedtuple("Row", "id")


class StubRenderer:
    """Renders every row but those it is told to fail, as CampaignRenderer does."""

    def __init__(self, failing: dict[int, Exception]) -> None:
        self.failing = failing
        self.rendered_subjects: dict[int, str] = {}
        self.rendered: list[int] = []

    def envelope(self, message: Row, *, dots_doubled: bool = False) -> Envelope:
        self.rendered.append(message.id)
        if message.id in self.failing:
            raise self.failing[message.id]
        self.rendered_subjects[message.id] = f"Chào {message.id}"
        to = f"n{message.id}@example.vn"
        return Envelope(message.id, "tin@example.vn", to, b"x\r\n", dots_doubled)


def batch_of(renderer: StubRenderer, count: int) -> PreparedBatch:
    return PreparedBatch(rows=[(Row(i), renderer) for i in range(1, count + 1)])  # type: ignore[misc]


def test_a_message_rendered_ahead_is_handed_out_once_with_its_subject() -> None:
    renderer = StubRenderer({})
    batch = batch_of(renderer, 3)
    envelopes = batch.envelopes(refuse=pytest.fail)
    assert next(envelopes).key == 1
    batch.render_ahead()
    batch.render_ahead()  # the next one is rendered already: not again
    assert [e.key for e in envelopes] == [2, 3]
    assert renderer.rendered == [1, 2, 3]
    assert batch.subjects == {1: "Chào 1", 2: "Chào 2", 3: "Chào 3"}


def test_a_row_that_cannot_be_rendered_is_refused_at_its_turn() -> None:
    batch = batch_of(StubRenderer({2: ValueError("the name holds a line break")}), 3)
    refused: list[DeliveryResult] = []
    envelopes = batch.envelopes(refuse=refused.append)
    assert next(envelopes).key == 1
    batch.render_ahead()
    assert refused == []  # not before its turn
    assert [e.key for e in envelopes] == [3]
    assert [(r.key, r.outcome) for r in refused] == [(2, Outcome.PERMANENT)]
    assert refused[0].reply == "Not sent: the name holds a line break"


def test_an_unexpected_error_while_rendering_ahead_waits_for_its_turn() -> None:
    batch = batch_of(StubRenderer({2: RuntimeError("a bug")}), 3)
    envelopes = batch.envelopes(refuse=pytest.fail)
    assert next(envelopes).key == 1
    batch.render_ahead()  # during an SMTP exchange: must not raise
    with pytest.raises(RuntimeError, match="a bug"):
        next(envelopes)
