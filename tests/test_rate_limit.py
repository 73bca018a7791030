"""The shared rate limit: one token bucket and one daily counter per SMTP account in Redis.
When the day's quota is used up, messages wait for the next window; they do not fail."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from dashboard.campaigns.finish import estimate_finish
from dashboard.extensions import db
from dashboard.mail.rate_limit import QuotaExhausted, RateLimiter, account_key, next_window
from dashboard.models import Message, utcnow
from dashboard.sending.account import RateBudget, limiter_for, rate_budget
from tests.conftest import REDIS_URL, messages_of, wait_for_final, wait_until
from tests.smtp_server import ScriptedSMTPServer
from tests.test_send_end_to_end import attempts_of


def test_daily_quota_is_counted_across_limiters_and_refunded(
    redis_client: redis.Redis, unique: str
) -> None:
    key = f"ratelimit:test-{unique}"
    first = RateLimiter(redis_client, key, per_second=0, per_day=3)
    second = RateLimiter(redis_client, key, per_second=0, per_day=3)  # another worker
    first.acquire()
    second.acquire()
    first.acquire()
    with pytest.raises(QuotaExhausted, match="daily quota of 3"):
        second.acquire()
    assert first.used_today() == 3
    first.refund(2)  # two of them never reached the server
    second.acquire()
    assert second.used_today() == 2
    redis_client.delete(first.day_key())


def test_a_batch_takes_tokens_in_blocks_and_gives_back_what_it_did_not_use(
    redis_client: redis.Redis, unique: str
) -> None:
    key = f"ratelimit:test-{unique}"
    batch = RateLimiter(redis_client, key, per_second=0, per_day=120)
    other = RateLimiter(redis_client, key, per_second=0, per_day=120)  # another worker
    paced = batch.paced(iter(range(50)), expected=50)
    assert [next(paced) for _ in range(10)] == list(range(10))
    assert batch.used_today() == 50  # the batch's 50 are taken in one call
    paced.close()  # paused after ten: forty go back
    assert batch.used_today() == 10
    # Near the day's end nobody takes more than is left, so no sender waits for nothing.
    assert list(other.paced(iter(range(100)), expected=100)) == list(range(100))
    sent = []
    with pytest.raises(QuotaExhausted):
        sent.extend(batch.paced(iter(range(20)), expected=20))
    assert sent == list(range(10)) and batch.used_today() == 120
    redis_client.delete(batch.day_key())


def test_the_bucket_makes_the_next_sender_wait(redis_client: redis.Redis, unique: str) -> None:
    limiter = RateLimiter(redis_client, f"ratelimit:test-{unique}", per_second=1, per_day=0)
    keys = [f"{limiter.key}:bucket", limiter.day_key(), f"{limiter.key}:urgent"]
    assert limiter._acquire(keys=keys, args=[1, 1, 0, 60]) == 0
    wait_ms = int(limiter._acquire(keys=keys, args=[1, 1, 0, 60]))
    assert 0 < wait_ms <= 1000
    redis_client.delete(keys[0])


def test_the_account_key_names_server_and_user_only() -> None:
    key = account_key("SMTP.Gmail.com", 587, "You@Gmail.com")
    assert key == account_key("smtp.gmail.com", 587, "you@gmail.com")
    assert key != account_key("smtp.gmail.com", 587, "other@gmail.com")
    assert "gmail" not in key  # a hash: the address is not spelled out in Redis either


def test_used_up_quota_holds_messages_until_the_next_window_then_they_are_sent(
    app: Flask, client: FlaskClient, smtp_server: ScriptedSMTPServer, unique: str
) -> None:
    with app.app_context():
        limiter = limiter_for(app.config)
    assert limiter is not None
    limiter.client.set(limiter.day_key(), limiter.per_day)  # today's quota is used up
    try:
        addresses = [f"quota{i}-{unique}@example.com" for i in range(3)]
        response = client.post(
            "/api/v1/emails", json={"to": addresses, "subject": "Hạn mức", "text": "x"}
        )
        campaign_id = response.json["id"]

        def all_held() -> list[Message] | None:
            messages = messages_of(app, campaign_id)
            return messages if all(m.status == "retrying" for m in messages) else None

        held = wait_until(all_held, what="the messages to be handed back")
        for message in held:
            assert message.attempts == 0  # nothing was tried
            assert message.next_attempt_at == next_window(utcnow())
            assert "daily quota" in message.last_reply
            assert attempts_of(app, message.id) == []
        assert smtp_server.received == []
        budget = rate_budget(app.config)
        assert budget == RateBudget(
            per_second=None, per_day=limiter.per_day, used_today=limiter.per_day, left_today=0
        )
    finally:
        limiter.client.delete(limiter.day_key())

    with app.app_context():  # the window opens
        db.session.execute(
            update(Message)
            .where(Message.campaign_id == campaign_id)
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    messages = wait_for_final(app, campaign_id)
    assert [(m.status, m.attempts) for m in messages] == [("sent", 1)] * 3
    assert [len(smtp_server.received_by(a)) for a in addresses] == [1, 1, 1]
    assert limiter.used_today() == 3


def test_no_limit_means_no_budget(app: Flask) -> None:
    assert rate_budget({**app.config, "RATE_LIMIT_PER_DAY": 0, "RATE_LIMIT_PER_SECOND": 0}) is None


def test_campaigns_cannot_spend_the_reserve_kept_for_single_emails(
    redis_client: redis.Redis, unique: str
) -> None:
    key = f"ratelimit:test-{unique}"
    campaign = RateLimiter(redis_client, key, per_second=0, per_day=20, reserve_percent=10)
    single = RateLimiter(
        redis_client, key, per_second=0, per_day=20, urgent=True, reserve_percent=10
    )
    sent = []
    with pytest.raises(QuotaExhausted, match="2 are kept for single emails"):
        sent.extend(campaign.paced(iter(range(30)), expected=30))
    assert len(sent) == 18 and campaign.used_today() == 18
    single.acquire()
    single.acquire()  # the reserve is the single emails'
    with pytest.raises(QuotaExhausted, match="daily quota of 20 messages is used up"):
        single.acquire()
    redis_client.delete(campaign.day_key())


def test_while_a_single_email_waits_for_the_bucket_campaigns_take_nothing(
    redis_client: redis.Redis, unique: str
) -> None:
    key = f"ratelimit:test-{unique}"
    campaign = RateLimiter(redis_client, key, per_second=10, per_day=0)
    single = RateLimiter(redis_client, key, per_second=10, per_day=0, urgent=True)
    keys = [f"{key}:bucket", campaign.day_key(), f"{key}:urgent"]

    def ask(limiter: RateLimiter) -> int:
        urgent = 1 if limiter.urgent else 0
        return int(limiter._acquire(keys=keys, args=[10, 1, 0, 60, 1, urgent, 0, limiter.waiter]))

    def refill() -> None:  # the bucket's next token, without waiting for it
        redis_client.hset(keys[0], mapping={"tokens": "1", "at": str(10**15)})

    assert ask(campaign) == 0  # the campaign took the bucket's token
    assert ask(single) > 0  # the single email waits for the next one, and says so
    refill()
    assert ask(campaign) > 0  # the campaign steps aside although a token is there
    assert ask(single) == 0  # the single email takes it
    refill()
    assert ask(campaign) == 0  # nobody urgent waits any more: the campaign goes on
    redis_client.delete(*keys)


def test_a_campaign_past_the_days_quota_is_told_in_days(
    redis_client: redis.Redis, unique: str
) -> None:
    config = {
        "MAIL_SERVER": f"smtp-{unique}.example.com",
        "MAIL_PORT": 587,
        "MAIL_USERNAME": "you@example.com",
        "RATE_LIMIT_PER_SECOND": 20.0,
        "RATE_LIMIT_PER_DAY": 2000,
        "RATE_LIMIT_TRANSACTIONAL_RESERVE_PERCENT": 10.0,
        "RATE_LIMIT_REDIS_URL": REDIS_URL,
    }
    campaign = limiter_for(config)
    assert campaign is not None
    redis_client.set(campaign.day_key(), 1500)  # 300 of the campaigns' 1,800 left today
    now = datetime(2026, 3, 2, 9, 0)
    finish = estimate_finish(4000, config, bulk=True, measured_per_second=None, now=now)
    assert finish is not None
    assert (finish.per_day, finish.quota, finish.left_today) == (1800, 2000, 300)
    # 300 today, 1,800 on the 3rd and on the 4th, the last 100 on the 5th at 20 a second.
    assert finish.days == 3
    assert finish.finishes_at == datetime(2026, 3, 5, 0, 0, 5)
    small = estimate_finish(200, config, bulk=True, measured_per_second=None, now=now)
    assert small is not None and small.days == 0
    assert small.finishes_at == now + timedelta(seconds=10)
    redis_client.delete(campaign.day_key())
