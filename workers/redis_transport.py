"""kombu's Redis transport with one fix, so a worker survives Redis going away (F2).

celery 5.7 / kombu 5.7, on losing the broker, first ``collect()``s the connection (which detaches the
transport: ``transport.client = None``) and then ``close()``s it. Closing the channel restores the
unacknowledged messages (we always have some: ``task_acks_late`` with a prefetch), which needs a Redis
client, which reads the connection parameters from ``transport.client`` — now ``None``. The resulting
``AttributeError`` is not a connection error, so nothing catches it and the worker stops for good
("Unrecoverable error: AttributeError … 'hostname'"). Raised as the connection error it really is, the
close is ignored as kombu intends and the consumer reconnects with its usual retries. The messages left
unacknowledged stay in Redis and come back after the visibility timeout; the ticks do not wait for them
(timers and mail live in the database).
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection is closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
