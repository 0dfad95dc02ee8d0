"""Session-wide real parts: one nats-server and (lazily) one Ray instance per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import fastapi.dependencies.models
import nats
import pytest
from nats.js.client import JetStreamContext

from tests.support.nats import NatsServer, start_nats

# The Fernet key that seals channel secrets in tests (services refuse to start without one; CEP_SECRETS_KEY).
TEST_SECRETS_KEY = "Y2VwLXRlc3RzLWNoYW5uZWwtc2VjcmV0cy1rZXktMDE="
# FastAPI's memos of what kind of callable each endpoint and dependency is (4,096 entries each, keyed by the function).
_FASTAPI_MEMOS = tuple(
    memo for memo in vars(fastapi.dependencies.models).values() if callable(getattr(memo, "cache_clear", None))
)


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on random loopback ports, shared by the session."""
    server = start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole session (it takes a few seconds and ~1 GB to start)."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace="cep-tests", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session", autouse=True)
def _services_use_the_test_nats(nats_server: NatsServer) -> Iterator[None]:
    """Every settings object built in tests talks to the session's nats-server, never the machine's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CEP_NATS_URL", nats_server.url)
        patch.setenv("CEP_EGRESS_ALLOW", "127.0.0.1")  # the local receivers; egress tests set their own
        patch.setenv("CEP_SECRETS_KEY", TEST_SECRETS_KEY)
        yield


@pytest.fixture(autouse=True)
def _apps_are_freed() -> Iterator[None]:
    """Empty FastAPI's callable memos after each test. A test's app has endpoints that are closures over it (its
    `/readyz`, its dependencies), so the memos kept the last few hundred apps alive: 3.3 M objects after the gateway
    tests, and a full collection of that heap took over 3 s late in the session, pausing every thread of it (a
    gateway test saw /healthz take 3.51 s). A service process builds one app, so only tests are concerned."""
    yield
    for memo in _FASTAPI_MEMOS:
        memo.cache_clear()


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on the session's nats-server, for tests that publish or read streams directly."""
    client = await nats.connect(nats_server.url)
    yield client.jetstream()
    await client.drain()
