"""SIGKILL of every service, and a SIGSTOP/SIGCONT pause, in the middle of a 20,000-event load."""

from __future__ import annotations

import pytest

from tests.chaos.faults import Fault, backlog, kill, kill_shard_actor, pause, scheduler_leading
from tests.chaos.harness import run_fault
from tests.support.stack import Stack

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]

FAULTS = [
    Fault("SIGKILL ingest (router)", 15, backlog("CEP_EVENTS/router"), kill("ingest")),
    Fault("SIGKILL one shard actor", 30, backlog("CEP_WORK/"), kill_shard_actor),
    Fault("SIGKILL evaluator (driver + Ray)", 45, backlog("CEP_WORK/"), kill("evaluator")),
    Fault("SIGKILL notifier", 15, backlog("CEP_ALERTS/notifier", "CEP_DELIVERY/"), kill("notifier")),
    Fault("SIGKILL gateway", 20, backlog("CEP_ALERTS/recorder"), kill("gateway")),
    Fault("SIGKILL scheduler", 15, scheduler_leading, kill("scheduler")),
    Fault("SIGSTOP ingest 8 s, SIGCONT", 15, backlog("CEP_EVENTS/router"), pause("ingest")),
]


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
def test_a_process_fault_under_load_loses_and_doubles_nothing(chaos_stack: Stack, fault: Fault) -> None:
    run_fault(chaos_stack, fault)
