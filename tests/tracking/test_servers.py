"""The checks `genrevae ui` and `serve` make before starting a server (the servers
themselves, MLflow's UI behind its proxy and the scoring server, are in tests/slow)."""

from __future__ import annotations

import socket

from genrevae.tracking.servers import _free_loopback_port, _port_taken


def test_a_listening_port_is_taken_and_a_closed_one_is_not() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert _port_taken("127.0.0.1", port)
    assert not _port_taken("127.0.0.1", port)


def test_the_inner_port_is_free_on_loopback() -> None:
    port = _free_loopback_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # raises if it were taken
