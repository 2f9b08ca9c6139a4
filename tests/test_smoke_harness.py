"""The harness itself: start, answer, stop, and no child left behind."""

import harness


def test_daemon_starts_answers_and_cleans_up(daemon_factory):
    d = daemon_factory("""
        [program:sleeper]
        command = /bin/sh -c 'exec sleep 100000'
        startsecs = 0
    """)
    infos = d.wait_states({"sleeper": "RUNNING"}, timeout=15)
    pid = infos["sleeper"]["pid"]
    assert harness.proc_start_time(pid) is not None
    # The tag is visible once the child has exec'd (its environ is the daemon's before that).
    harness.wait_until(lambda: harness.pids_with_env_tag(d.tag) == [pid], 10,
                       what="child environment tag")
    d.stop()
    assert not d.alive()
    assert harness.wait_until(lambda: harness.proc_start_time(pid) is None
                              or harness.proc_is_zombie(pid), 10, what="child gone")


def test_free_ports_avoid_the_ephemeral_range():
    """Ports from bind(0) are the ones every outgoing connection takes: the harness draws
    outside that range, so only another explicit bind can race it."""
    lo, hi = harness._ephemeral_range()
    ports = harness.free_ports(20)
    assert len(set(ports)) == 20
    if lo > 10000 or hi < 65535:  # room outside the range on this machine
        assert not any(lo <= p <= hi for p in ports), (ports, lo, hi)


def test_cluster_start_moves_to_new_ports_when_one_is_taken(tmp_path, monkeypatch):
    """A port taken between the harness's choice and the daemon's bind: the whole cluster
    starts again on new ports instead of failing the test."""
    import socket

    from cluster_harness import Cluster
    from conftest import require_impl

    require_impl("raftvisord")
    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    real = harness.free_ports
    draws: list[int] = []

    def first_draw_clashes(n: int, host: str = "127.0.0.1") -> list[int]:
        ports = real(n, host)
        if not draws:
            ports[2] = taken  # s2's HTTP port is in use when s2 binds it
        draws.append(n)
        return ports

    monkeypatch.setattr(harness, "free_ports", first_draw_clashes)
    c = Cluster(tmp_path, ["s1", "s2", "s3"], loglevel="info")
    try:
        c.start()
        c.wait_operation(timeout=60)
        assert len(draws) == 2, draws
        assert taken not in [p for _, http, internal in c.members for p in (http, internal)]
    finally:
        c.stop()
        busy.close()


def test_single_shot_transport_does_not_resend_a_request_a_dying_server_took():
    """A server that reads a request, closes without answering and stops listening: the stock
    transport sends the request again and reports "connection refused" (as if nothing had
    been sent); the chaos suite's transport reports the disconnection, so a write that may
    have been carried out is never counted as one that certainly was not."""
    import http.client
    import re
    import socket
    import threading
    import xmlrpc.client

    def read_request(conn: socket.socket) -> bytes:
        """The whole request: the head, then the body its Content-Length announces (the
        client may send them in separate writes)."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)content-length: *(\d+)", head)
        while length and len(body) < int(length.group(1)):
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body

    def dying_server() -> tuple[int, list[bytes]]:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        requests: list[bytes] = []

        def serve():
            conn, _ = listener.accept()
            listener.close()
            requests.append(read_request(conn))
            conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return listener.getsockname()[1], requests

    port, requests = dying_server()
    stock = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2",
                                      transport=harness._TimeoutTransport(5))
    try:
        stock.supvisors.disable("w0", True)
        raise AssertionError("the stock transport got an answer from a closed server")
    except ConnectionRefusedError:
        pass
    assert len(requests) == 1 and b"supvisors.disable" in requests[0]

    port, requests = dying_server()
    once = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/RPC2",
                                     transport=harness.SingleShotTransport(5))
    try:
        once.supvisors.disable("w0", True)
        raise AssertionError("the single-shot transport got an answer from a closed server")
    except (http.client.RemoteDisconnected, ConnectionResetError) as e:
        assert "refused" not in str(e).lower()
    assert len(requests) == 1
