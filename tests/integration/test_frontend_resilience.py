"""The frontend under a hung or dying stratad and under misbehaving clients:
it answers with the right JSON error, never hangs, never crashes."""
import asyncio
import json
import signal
import socket
import threading
import time

import websockets

from strata_harness import (EVENT_TIMEOUT, HTTP_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, WsReader,
                            assert_json_error, is_event, wait_for, ws_connect)

TIMEOUT_MS = 700


class Stopped:
    """SIGSTOP stratad for the block (SIGCONT on the way out, always): its
    sockets stay connected but nothing answers."""

    def __init__(self, env):
        self.env = env

    def __enter__(self):
        self.env.stratad.send(signal.SIGSTOP)
        return self

    def __exit__(self, *exc):
        self.env.stratad.send(signal.SIGCONT)


def test_hung_stratad_gives_504_and_healthz_stays_fast(strata):
    strata.start_stratad()
    strata.start_front("--timeout-ms", str(TIMEOUT_MS))
    with Stopped(strata):
        t = time.monotonic()
        r = strata.get("/api/v1/storage/status")
        took = time.monotonic() - t
        assert_json_error(r, 504, "timeout")
        assert TIMEOUT_MS / 1000 * 0.8 <= took < TIMEOUT_MS / 1000 + 3, took
        t = time.monotonic()
        assert strata.get("/healthz").status == 200
        assert time.monotonic() - t < 1.5
    # Answers again once stratad runs (the late reply of the timed-out
    # request must not be taken for this one's).
    r = strata.get("/api/v1/storage/status")
    assert r.status == 200 and r.body["pid"] == strata.stratad.pid, r


def test_clients_that_give_up_while_waiting(strata):
    """Clients disconnect while their request waits on stratad; the late
    replies arrive after they are gone and must simply be dropped."""
    strata.start_stratad()
    strata.start_front("--timeout-ms", "5000")
    req = b"GET /api/v1/storage/status HTTP/1.1\r\nHost: x\r\n\r\n"
    with Stopped(strata):
        for _ in range(10):
            with socket.create_connection(("127.0.0.1", strata.port), timeout=HTTP_TIMEOUT) as s:
                s.sendall(req)
                # a bounded read that gets nothing (stratad is stopped)
                s.settimeout(0.05)
                try:
                    s.recv(1)
                except socket.timeout:
                    pass
        assert strata.get("/healthz").status == 200
    for _ in range(3):
        r = strata.get("/api/v1/storage/status")
        assert r.status == 200 and r.body["pid"] == strata.stratad.pid, r
    assert strata.front.running()


def test_pending_request_when_stratad_dies_is_503_at_once(strata):
    """A request waiting on stratad when it dies is answered 503 unavailable
    as soon as the connection drops, not after the 10 s request timeout."""
    strata.start_stratad()
    strata.start_front("--timeout-ms", "10000")
    result = {}

    def call():
        result["r"] = strata.get("/api/v1/storage/status", timeout=30)
        result["at"] = time.monotonic()

    strata.stratad.send(signal.SIGSTOP)
    th = threading.Thread(target=call)
    th.start()
    # Give the request time to reach stratad's socket; whichever way the
    # race goes the answer must be a prompt 503.
    time.sleep(0.3)
    killed = time.monotonic()
    strata.kill_stratad()
    th.join(timeout=30)
    assert not th.is_alive()
    assert_json_error(result["r"], 503, "unavailable")
    assert result["at"] - killed < 5, f"answered {result['at'] - killed:.1f} s after the kill"


def test_frontend_sigterm_with_open_websockets(cluster):
    async def main():
        url = cluster.ws_url("/api/v1/ws/storage")
        conns = [await ws_connect(url) for _ in range(3)]
        readers = [WsReader(ws) for ws in conns]
        for r in readers:
            await r.first(lambda m: is_event(m), what="an event")
        rc = await asyncio.to_thread(cluster.front.stop, signal.SIGTERM)
        assert not cluster.front.forced_kill, "strata-front ignored SIGTERM"
        assert rc == 0, cluster.front.describe()
        for ws in conns:
            try:
                while True:  # drain what was sent before the close
                    await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT)
            except websockets.exceptions.ConnectionClosed:
                pass
            await ws.close()

    asyncio.run(main())
    assert "stopped" in cluster.front.stdout()


def test_many_websocket_clients_come_and_go(cluster):
    """Clients that vanish without a close handshake, clients that close
    right after the upgrade, and clients that stay: the ones that stay keep
    getting events and the frontend stays healthy."""
    async def main():
        url = cluster.ws_url("/api/v1/ws/storage/buffer-pool")
        stay = [await ws_connect(url) for _ in range(3)]
        for round_ in range(3):
            batch = [await ws_connect(url) for _ in range(10)]
            for i, ws in enumerate(batch):
                if i % 2:
                    ws.transport.abort()  # TCP reset, no close frame
                else:
                    await ws.close()
        for ws in stay:
            r = WsReader(ws)
            seen = await r.collect(lambda m: is_event(m, "buffer_pool_event", "PoolStats"), 2,
                                   what="PoolStats on a client that stayed")
            assert seen[0]["seq"] < seen[1]["seq"]
            await ws.close()

    asyncio.run(main())
    assert cluster.get("/healthz").status == 200
    assert cluster.front.running()


def test_sigterm_during_a_slow_op_still_answers_it(strata):
    """stratad's shutdown lets running requests finish: their clients get
    the reply rather than a dropped connection (for a mutating op the
    client could not otherwise tell whether it ran)."""
    strata.start_stratad("--workers", "1")
    slow = strata.cli_popen("call", "debug.sleep", json.dumps({"ms": 2000}))
    try:
        # With one worker, a ping times out exactly while the slow op runs.
        def slow_op_running():
            assert slow.poll() is None, "the slow op ended before it was seen running"
            return strata.cli("--timeout-ms", "150", "ping").returncode != 0

        wait_for(slow_op_running, START_TIMEOUT, "the slow op to occupy the worker",
                 interval=0.01)
        rc = strata.stop_stratad(signal.SIGTERM)
        out, err = slow.communicate(timeout=STOP_TIMEOUT)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    assert rc == 0, strata.stratad.describe()
    assert slow.returncode == 0, (
        f"the in-flight request's reply was lost on SIGTERM: exit {slow.returncode}, {err.strip()}")
    assert json.loads(out) == {"slept_ms": 2000}
