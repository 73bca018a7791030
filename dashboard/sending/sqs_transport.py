"""Kombu's SQS transport, made to keep polling through an SQS outage.

In kombu 5.7.0 a worker's asynchronous receive that meets a timeout or a 5xx gets `[]` where it
expects SQS's answer (a dict), and one that meets any other error raises inside the promise
chain; either way the chain that schedules the next receive for that queue is broken, and the
worker stops consuming that queue for good while it looks alive (kombu issue 1127). A queue that
disappeared (a broker restarted empty, a queue deleted by hand) also stays in Kombu's cache of
queue URLs, so every publish to it fails.

Here a failed receive is logged and tried again after the polling interval, and a queue that is
gone is forgotten and declared again on the next publish or receive. Celery uses this transport
for `sqs://` URLs through the `broker_transport` setting (dashboard/config.py).
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError
from kombu.transport import SQS
from vine import promise, transform

log = logging.getLogger(__name__)

#: The error codes SQS answers for a queue that does not exist (the JSON and the query protocol).
QUEUE_GONE = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
#: The least pause between two receives after one failed, whatever the polling interval.
RETRY_SECONDS = 1.0


def queue_is_gone(error: Exception) -> bool:
    if isinstance(error, ClientError):
        return error.response.get("Error", {}).get("Code") in QUEUE_GONE
    return any(code in str(error) for code in QUEUE_GONE)


class Channel(SQS.Channel):
    def _on_messages_ready(self, queue: str, qname: str, messages: Any) -> int:
        if not isinstance(messages, dict):  # a timeout or a 5xx, which kombu answers with []
            return 0
        return super()._on_messages_ready(queue, qname, messages)

    def _schedule_queue(self, queue: str) -> None:
        if queue in self._active_queues and self.qos.can_consume():
            try:  # looking the queue's URL up may fail too, before the receive is sent
                self._get_bulk_async(queue, callback=promise(self._loop1, (queue,)))
            except Exception as error:
                self._receive_failed(queue, error)
        else:
            super()._schedule_queue(queue)

    def _get_async(self, queue: str, count: int = 1, callback: Any = None) -> Any:
        """Kombu's, with an error handler on the step that reads SQS's answer: without one, an
        error answer (a 4xx, such as a queue that no longer exists) is raised out of the event
        loop and stops the worker, or silently ends this queue's polling."""
        q_url = self._new_queue(queue)
        qname = self.canonical_queue_name(queue)
        ready = transform(self._on_messages_ready, callback, q_url, queue)
        ready.on_error = lambda *args: self._receive_failed(queue, args[-1])
        return self._get_from_sqs(
            queue_name=qname,
            queue_url=q_url,
            count=count,
            connection=self.asynsqs(queue=qname),
            callback=ready,
        )

    def _receive_failed(self, queue: str, error: Exception) -> None:
        log.warning("SQS: receiving from %s failed (%s); trying again", queue, error)
        self._forget_queue(queue)
        pause = max(RETRY_SECONDS, float(self.connection.polling_interval or 0))
        self.hub.call_later(pause, self._schedule_queue, queue)

    def _put(self, queue: str, message: dict, **kwargs: Any) -> None:
        try:
            super()._put(queue, message, **kwargs)
        except ClientError as error:
            if not queue_is_gone(error):
                raise
            log.warning("SQS: queue %s is gone; declaring it again", queue)
            self._forget_queue(queue)
            super()._put(queue, message, **kwargs)

    def _forget_queue(self, queue: str) -> None:
        """Drop the queue's cached URL (never a predefined queue's), so that the next use looks
        it up again and creates it when it does not exist."""
        if not self.predefined_queues:
            self._queue_cache.pop(self.canonical_queue_name(queue), None)


class Transport(SQS.Transport):
    Channel = Channel
