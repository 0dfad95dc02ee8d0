"""The supervisor's process helpers against real processes and sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from services.common.cli import natsconf, procs


def test_free_port_is_bindable_and_a_listening_port_is_not() -> None:
    port = procs.free_port()
    assert procs.port_is_free(port)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not procs.port_is_free(port)


def test_recorded_process_is_killed_only_while_it_is_the_same_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        record = {"pid": child.pid, "start_time": procs.start_time(child.pid)}
        assert procs.kill_recorded({"x": {**record, "start_time": "0"}}) == []  # a recycled pid is left alone
        assert procs.alive(child.pid)
        assert procs.kill_recorded({"x": record}) == [child.pid]
        assert child.wait(timeout=5) == -signal.SIGKILL
    finally:
        child.kill()


def test_processes_are_found_and_killed_by_a_command_line_needle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    needle = str(tmp_path / "marker")
    child = subprocess.Popen([sys.executable, "-c", "import time,sys; time.sleep(60)", needle])
    try:
        deadline = time.monotonic() + 5
        while child.pid not in procs.pids_matching(needle) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert procs.kill_matching(needle) == [child.pid]
        assert child.wait(timeout=5) == -signal.SIGKILL
    finally:
        child.kill()


def test_nats_config_is_explicit_about_ports_store_and_durability(tmp_path) -> None:  # type: ignore[no-untyped-def]
    text = natsconf.render(host="127.0.0.1", port=4333, monitor_port=8333, store_dir=tmp_path, server_name="cep-x")
    assert 'listen: "127.0.0.1:4333"' in text
    assert 'http: "127.0.0.1:8333"' in text
    assert f'store_dir: "{tmp_path}"' in text
    assert "sync_interval: always" in text


def test_processes_are_found_and_killed_by_an_inherited_environment_variable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    marker = str(tmp_path)
    env = {**os.environ, "CEP_STATE_DIR": marker}
    started = "print('up', flush=True); import time; time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", started], env=env, stdout=subprocess.PIPE)
    try:
        # Read once the child runs: while it is still in exec, /proc may refuse its environment (flaky before).
        assert child.stdout is not None and child.stdout.readline() == b"up\n"
        assert procs.environ(child.pid).get("CEP_STATE_DIR") == marker
        assert procs.kill_with_env("CEP_STATE_DIR", marker, keep=[child.pid]) == []  # kept
        assert procs.kill_with_env("CEP_STATE_DIR", marker) == [child.pid]
        assert child.wait(timeout=5) == -signal.SIGKILL
        assert not procs.alive(child.pid) and procs.start_time(child.pid) is None and procs.cmdline(child.pid) == ""
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
