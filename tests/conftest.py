"""Session-wide real parts: one nats-server and (lazily) one Ray instance per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.js.client import JetStreamContext

from tests.support.nats import NatsServer, start_nats

# The Fernet key that seals channel secrets in tests (services refuse to start without one; CEP_SECRETS_KEY).
TEST_SECRETS_KEY = "Y2VwLXRlc3RzLWNoYW5uZWwtc2VjcmV0cy1rZXktMDE="


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


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """A JetStream context on the session's nats-server, for tests that publish or read streams directly."""
    client = await nats.connect(nats_server.url)
    yield client.jetstream()
    await client.drain()
