"""Transient failures retry from the database (no retry lives only in the broker) until the
limit; rows stuck in `queued` or `sending` are swept back onto the broker, a stale `sending`
row at most once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.utils.dispatch import Signal
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from dashboard.extensions import db
from dashboard.models import Campaign, DeliveryAttempt, Message, User, utcnow
from dashboard.models.webhooks import WebhookDelivery, WebhookEndpoint
from dashboard.sending.claims import claim_batch
from dashboard.sending.housekeeping import note_started
from dashboard.sending.leases import Lease, new_token
from dashboard.sending.requests import EmailContent
from dashboard.sending.submission import submit_email
from dashboard.sending.sweeper import sweep_stale
from dashboard.signals import recorded
from dashboard.webhooks.endpoints import create_endpoint
from tests.auth_helpers import make_user
from tests.conftest import messages_of, wait_for_final
from tests.smtp_server import ScriptedSMTPServer
from tests.test_send_end_to_end import attempts_of


@pytest.mark.sqs
def test_a_transient_failure_is_retried_up_to_the_limit_then_failed_with_its_reply(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    address = f"greylisted-{unique}@example.com"
    smtp_server.script.rcpt_replies[address] = "451 4.7.1 Greylisted, come back later"
    response = client.post("/api/v1/emails", json={"to": address, "subject": "s", "text": "t"})
    [message] = wait_for_final(app, response.json["id"])
    assert message.status == "failed"
    assert message.attempts == 4  # the first try and MAIL_MAX_RETRIES=3 retries
    assert (message.last_code, message.last_reply) == (451, "4.7.1 Greylisted, come back later")
    assert message.next_attempt_at is None
    attempts = attempts_of(app, message.id)
    assert [(a.outcome, a.smtp_code) for a in attempts] == [("transient", 451)] * 4
    # Each retry went out as its own batch task, published by the beat dispatcher.
    assert len({a.task_id for a in attempts}) == 4
    assert smtp_server.received_by(address) == []


def held_campaign(app: Flask, unique: str, count: int) -> list[int]:
    """A campaign whose rows exist but were never published (scheduled far ahead)."""
    with app.app_context():
        content = EmailContent.model_validate(
            {
                "to": [f"s{i}-{unique}@example.vn" for i in range(count)],
                "subject": "Quét",
                "text": "x",
            }
        )
        campaign = submit_email(content, source="api", send_at=utcnow() + timedelta(days=30))
        return [m.id for m in messages_of(app, campaign.id)]


@pytest.mark.sqs
def test_sweeper_requeues_lost_rows_and_resends_a_stale_sending_row_only_once(
    app: Flask, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    lost_queued, stale_sending, stale_again = held_campaign(app, unique, 3)
    long_ago = utcnow() - timedelta(hours=2)
    with app.app_context():
        # As the broker being flushed, and a worker killed mid-batch, would leave them.
        db.session.execute(
            update(Message)
            .where(Message.id == lost_queued)
            .values(status="queued", next_attempt_at=None, updated_at=long_ago)
        )
        db.session.execute(
            update(Message)
            .where(Message.id.in_([stale_sending, stale_again]))
            .values(
                status="sending",
                claimed_at=long_ago,
                lease_token="dead-batch",
                lease_expires_at=utcnow() - timedelta(seconds=1),  # its lease just ran out
                attempts=1,
                next_attempt_at=None,
            )
        )
        db.session.execute(update(Message).where(Message.id == stale_again).values(stale_resends=1))
        db.session.commit()
        report = sweep_stale()
    assert (report["requeued"], report["resent"], report["failed"]) == (1, 1, 1)

    with app.app_context():
        campaign_id = db.session.get(Message, lost_queued).campaign_id
    messages = {m.id: m for m in wait_for_final(app, campaign_id)}
    assert messages[lost_queued].status == "sent"
    assert messages[stale_sending].status == "sent"
    assert messages[stale_sending].stale_resends == 1
    assert [a.outcome for a in attempts_of(app, stale_sending)] == ["stale", "sent"]
    assert messages[stale_again].status == "failed"
    assert "not resent a second time" in messages[stale_again].last_reply
    for message_id in (lost_queued, stale_sending):
        assert len(smtp_server.received_by(messages[message_id].to_address)) == 1
    assert smtp_server.received_by(messages[stale_again].to_address) == []
    with app.app_context():
        outcomes = db.session.scalars(
            select(DeliveryAttempt.outcome).where(DeliveryAttempt.message_id == stale_again)
        ).all()
    assert outcomes == []


def test_sweeper_leaves_rows_alone_while_their_lease_runs_however_long_ago_they_were_claimed(
    app: Flask, unique: str
) -> None:
    """A batch at a provider's pace works for minutes, renewing its lease: its rows are not
    stale, whatever the rate or the batch's size."""
    fresh, long_running = held_campaign(app, unique, 2)
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.id == fresh)
            .values(status="sending", claimed_at=utcnow(), next_attempt_at=None)
        )
        db.session.execute(
            update(Message)
            .where(Message.id == long_running)
            .values(
                status="sending",
                claimed_at=utcnow() - timedelta(hours=2),
                lease_token="live-batch",
                lease_expires_at=utcnow() + timedelta(seconds=30),
                next_attempt_at=None,
            )
        )
        db.session.commit()
        report = sweep_stale()
        assert (report["requeued"], report["resent"], report["failed"]) == (0, 0, 0)
        statuses = db.session.scalars(
            select(Message.status).where(Message.id.in_([fresh, long_running]))
        )
        assert list(statuses) == ["sending", "sending"]
        db.session.execute(
            update(Message).where(Message.id.in_([fresh, long_running])).values(status="cancelled")
        )
        db.session.commit()


def test_a_lease_renewal_returns_only_the_rows_the_batch_still_holds(
    app: Flask, unique: str
) -> None:
    """The sweeper gave one row to another batch (its lease had run out): the old owner's next
    renewal does not return it, so the old owner never sends it."""
    ids = held_campaign(app, unique, 3)
    with app.app_context():
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(status="queued"))
        db.session.commit()
        lease = Lease(new_token(), (), 30)
        claimed = claim_batch(
            ids, task_id="t", redelivered=False, token=lease.token, lease_seconds=30
        )
        assert claimed == ids
        lease.held = set(claimed)
        assert lease.renew() == set(ids)
        expiry = db.session.get(Message, ids[0]).lease_expires_at
        assert expiry is not None and expiry > utcnow() + timedelta(seconds=25)
        db.session.execute(
            update(Message).where(Message.id == ids[1]).values(lease_token="another-batch")
        )
        db.session.execute(update(Message).where(Message.id == ids[2]).values(status="sent"))
        db.session.commit()
        assert lease.renew() == {ids[0]}
        assert [lease.holds(i) for i in ids] == [True, False, False]
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(status="cancelled"))
        db.session.commit()


def test_a_claim_takes_its_rows_under_its_task_id_however_they_were_stamped(
    app: Flask, unique: str
) -> None:
    """Rows the confirm stamped with this task's id, rows published again under another one,
    rows never stamped, and a row not claimable: the claim takes the first three kinds, each
    under the batch's task id and lease, with its attempt counted, and leaves the sent row."""
    ids = held_campaign(app, unique, 5)
    stamps = ["this-task", "this-task", "an-earlier-task", None, "this-task"]
    with app.app_context():
        for message_id, stamp in zip(ids, stamps, strict=True):
            db.session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(status="queued", task_id=stamp, next_attempt_at=None)
            )
        db.session.execute(update(Message).where(Message.id == ids[4]).values(status="sent"))
        db.session.commit()
        lease = Lease(new_token(), (), 30)
        claimed = claim_batch(
            ids, task_id="this-task", redelivered=False, token=lease.token, lease_seconds=30
        )
        assert claimed == ids[:4]
        rows = db.session.execute(
            select(Message.status, Message.task_id, Message.lease_token, Message.attempts)
            .where(Message.id.in_(ids))
            .order_by(Message.id)
        ).all()
        assert [tuple(row) for row in rows] == [
            *[("sending", "this-task", lease.token, 1)] * 4,
            ("sent", "this-task", None, 0),
        ]
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(status="cancelled"))
        db.session.commit()


def test_a_redelivered_batch_takes_over_only_what_its_first_delivery_left_sending(
    app: Flask, unique: str
) -> None:
    """A worker died holding a batch: two rows it had claimed, two it had not reached. The
    broker's second delivery resends the two once, and sends the other two as first tries."""
    addresses = [f"r{i}-{unique}@example.vn" for i in range(4)]
    with app.app_context():
        # The session worker's beat sweeps too, and a sweep between the rows' lease running out
        # and the claim below would take the two over itself: noted as just started, its runs
        # stand aside for half a period (`housekeeping.ran_recently`).
        note_started("sweep", app.config)
        content = EmailContent.model_validate({"to": addresses, "subject": "Lại", "text": "x"})
        campaign = submit_email(content, source="api", send_at=utcnow() + timedelta(hours=1))
        ids = list(
            db.session.scalars(
                select(Message.id).where(Message.campaign_id == campaign.id).order_by(Message.id)
            )
        )
        ran_out = utcnow() - timedelta(seconds=1)
        for status, group in (("sending", ids[:2]), ("queued", ids[2:])):
            db.session.execute(
                update(Message)
                .where(Message.id.in_(group))
                .values(
                    status=status,
                    task_id="dead-delivery",
                    lease_token="dead-token",
                    lease_expires_at=ran_out,
                    next_attempt_at=None,
                    attempts=1,
                )
            )
        db.session.commit()

        lease = {"token": new_token(), "lease_seconds": 30}
        assert claim_batch(ids, task_id="dead-delivery", redelivered=True, **lease) == ids
        rows = db.session.scalars(select(Message).where(Message.id.in_(ids)).order_by(Message.id))
        assert [(m.status, m.stale_resends) for m in rows] == [
            ("sending", 1),
            ("sending", 1),
            ("sending", 0),
            ("sending", 0),
        ]
        taken_over = db.session.scalars(
            select(DeliveryAttempt.message_id).where(
                DeliveryAttempt.message_id.in_(ids),
                DeliveryAttempt.worker == "redelivered dead-delivery",
            )
        )
        assert sorted(taken_over) == ids[:2]
        # Nothing sends these rows: no worker holds them, and the sweeper must not either.
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(status="cancelled"))
        db.session.commit()


def test_a_redelivered_batch_leaves_rows_whose_lease_still_runs(app: Flask, unique: str) -> None:
    """Redis redelivers a task still at work once its visibility timeout passes: the rows its
    first delivery holds under a running lease are not taken from it."""
    ids = held_campaign(app, unique, 2)
    with app.app_context():
        db.session.execute(
            update(Message)
            .where(Message.id.in_(ids))
            .values(
                status="sending",
                task_id="slow-delivery",
                lease_token="first-delivery",
                lease_expires_at=utcnow() + timedelta(seconds=20),
                attempts=1,
            )
        )
        db.session.commit()
        lease = {"token": new_token(), "lease_seconds": 30}
        assert claim_batch(ids, task_id="slow-delivery", redelivered=True, **lease) == []
        tokens = db.session.scalars(select(Message.lease_token).where(Message.id.in_(ids)))
        assert set(tokens) == {"first-delivery"}
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(status="cancelled"))
        db.session.commit()


def test_a_handlers_failure_reaches_the_task_instead_of_being_logged_away() -> None:
    """Celery's Signal.send returns a handler's exception: `recorded` raises it, and raises
    when no handler answered at all (outcomes nobody wrote)."""
    signal = Signal(name="test_outcomes")

    def refusing(**_: object) -> None:
        raise OperationalError("UPDATE message", {}, Exception("database is locked"))

    with pytest.raises(RuntimeError):
        recorded(signal.send(sender=None))
    signal.connect(refusing, weak=False)
    with pytest.raises(OperationalError):
        recorded(signal.send(sender=None))


def test_a_row_the_sweeper_gives_up_on_tells_the_owners_webhook_it_failed(
    app: Flask, unique: str
) -> None:
    person = make_user(app, f"hooks-{unique}@example.vn")
    given_up, _untouched = held_campaign(app, unique, 2)
    with app.app_context():
        owner = db.session.get(User, person.id)
        create_endpoint(owner, "http://127.0.0.1:9/hook", ["failed"], "", app.config)
        campaign_id = db.session.get(Message, given_up).campaign_id
        db.session.execute(
            update(Campaign).where(Campaign.id == campaign_id).values(owner_id=person.id)
        )
        db.session.execute(
            update(Message)
            .where(Message.id == given_up)
            .values(
                status="sending",
                lease_token="dead-batch",
                lease_expires_at=utcnow() - timedelta(seconds=1),
                stale_resends=1,
            )
        )
        db.session.commit()
        # The session worker's beat sweeps too (every SWEEP_INTERVAL_SECONDS): it may give the
        # row up between the commit above and this sweep. Either way it is given up once.
        assert sweep_stale()["failed"] in (0, 1)
        db.session.expire_all()
        assert db.session.get(Message, given_up).status == "failed"
        events = db.session.execute(
            select(WebhookDelivery.message_id, WebhookDelivery.event)
            .join(WebhookEndpoint)
            .where(WebhookEndpoint.owner_id == person.id)
        ).all()
    assert [tuple(event) for event in events] == [(given_up, "failed")]
