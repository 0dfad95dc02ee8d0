"""Channel tests: requests on `cep.notifier.test` (queue group `notifier`), answered with one attempt's outcome."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from nats.aio.msg import Msg

from services.common.messages import codec
from services.common.messages.channels import ChannelEntry
from services.common.secrets.channel_sealing import open_entry
from services.common.secrets.sealing import SecretBox, SecretsKeyError
from services.notifier.delivery.attempts import Pipeline
from services.notifier.metrics import CHANNEL_TESTS

log = logging.getLogger(__name__)


class ChannelTests:
    """Answers each test request in a task of its own: a slow endpoint must not hold up the next test."""

    def __init__(self, pipeline: Pipeline, box: SecretBox) -> None:
        self.pipeline = pipeline
        self.box = box  # the request carries the channel's secrets sealed, as the bucket does
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_request(self, msg: Msg) -> None:
        # Callbacks of one subscription run one at a time: a slow endpoint must not hold up the next test.
        task = asyncio.create_task(self.answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def answer(self, msg: Msg) -> None:
        try:
            channel = open_entry(self.box, ChannelEntry.decode(msg.data))
            outcome = await self.pipeline.test(channel, datetime.now(UTC))
            answer = {
                "ok": outcome.ok,
                "status_code": outcome.status_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error_dict(),
            }
            CHANNEL_TESTS.labels(channel.type, str(outcome.ok).lower()).inc()
        except SecretsKeyError:
            log.error("a channel test's secrets open with none of the notifier's keys")
            error = {"kind": "config", "detail": "the channel's secrets open with none of the notifier's keys"}
            answer = {"ok": False, "status_code": None, "latency_ms": None, "error": error}
        except Exception as exc:
            log.warning("channel test failed to run: %s", type(exc).__name__)
            error = {"kind": "config", "detail": "the test request could not be run"}
            answer = {"ok": False, "status_code": None, "latency_ms": None, "error": error}
        with contextlib.suppress(Exception):
            await msg.respond(codec.dumps(answer))
