"""
strata-front --listen unix:PATH: REST and the WebSocket streams over a Unix
socket (the hop from a proxy on the same host), a live socket refused, a
stale one (a killed frontend's) replaced, a path that is no socket refused,
and the socket file removed at a clean stop.
"""
import asyncio
import http.client
import json
import os
import signal
import socket
import stat
import time

import pytest
import websockets

from strata_harness import (EVENT_TIMEOUT, FRONT, START_TIMEOUT, STOP_TIMEOUT, StrataEnv,
                            WsReader, is_event, is_notice, wait_for)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10.0):
        super().__init__("strata.local", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def uds_http(path, method, url, body=None):
    c = UnixHTTPConnection(str(path))
    try:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        c.request(method, url, body=data, headers=headers)
        r = c.getresponse()
        raw = r.read()
        return r.status, json.loads(raw) if raw else None
    finally:
        c.close()


def serving(path):
    try:
        return uds_http(path, "GET", "/readyz")[0] == 200
    except OSError:
        return False


def start_unix_front(env, path, name="front-unix"):
    p = env.spawn(name, [str(FRONT), "--data", str(env.data), "--listen", f"unix:{path}"])
    wait_for(lambda: serving(path) or not p.running(), START_TIMEOUT, "frontend on the unix socket")
    assert p.running(), p.describe()
    return p


@pytest.fixture
def env():
    e = StrataEnv()
    e.start_stratad("--sample-every", "1")
    yield e
    e.close()


def test_rest_and_websocket_over_a_unix_socket(env):
    path = env.root / "front.sock"
    p = start_unix_front(env, path)
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert "unix:" in p.stdout()

    status, body = uds_http(path, "GET", "/api/v1/storage/status")
    assert status == 200 and body["pid"] == env.stratad.pid, body
    # a real write over the socket, then bad input gets a JSON error
    status, body = uds_http(path, "POST", "/api/v1/storage/pages", {})
    assert status == 201, body
    page = body["page_id"]
    status, body = uds_http(path, "POST", "/api/v1/storage/io/vectored-read", {"page_ids": "x"})
    assert status == 400 and "error" in body, body

    async def stream():
        async with websockets.unix_connect(str(path), "ws://strata.local/api/v1/ws/storage/buffer-pool",
                                           open_timeout=START_TIMEOUT) as ws:
            r = WsReader(ws)
            await r.first(lambda m: is_notice(m, "connection"), what="hello")
            loop = asyncio.get_running_loop()
            st = await loop.run_in_executor(None, uds_http, path, "POST",
                                            "/api/v1/storage/io/vectored-read", {"page_ids": [page]})
            assert st[0] == 200, st
            m = await r.first(lambda m: is_event(m, "buffer_pool_event", "PageHit")
                              and m["data"]["PageHit"]["page_id"] == page, what="PageHit")
            return m

    m = asyncio.run(stream())
    assert m["seq"] >= 1 and m["epoch"] > 0
    assert p.stop() == 0, p.describe()
    assert not os.path.exists(path), "the socket file outlived a clean stop"


def test_live_socket_refused_stale_one_replaced_other_files_refused(env):
    path = env.root / "front.sock"
    first = start_unix_front(env, path)
    # a second frontend on the same path must not steal it
    second = env.spawn("front-unix-2", [str(FRONT), "--data", str(env.data), "--listen", f"unix:{path}"])
    assert second.wait(START_TIMEOUT) != 0
    assert "another process is listening" in second.stderr(), second.describe()
    assert serving(path), "the first frontend lost its socket"

    # kill -9 leaves the file behind; a new frontend replaces it
    first.kill()
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert not serving(path)
    third = start_unix_front(env, path, "front-unix-3")
    assert uds_http(path, "GET", "/api/v1/storage/status")[0] == 200
    assert third.stop() == 0, third.describe()

    # a path that is not a socket is never unlinked
    plain = env.root / "not-a-socket"
    plain.write_text("keep me")
    bad = env.spawn("front-unix-4", [str(FRONT), "--data", str(env.data), "--listen", f"unix:{plain}"])
    assert bad.wait(START_TIMEOUT) != 0
    assert "not a socket" in bad.stderr(), bad.describe()
    assert plain.read_text() == "keep me"


@pytest.mark.parametrize("arg", ["unix:", "unix:@", "unix:/" + "x" * 120])
def test_bad_unix_listen_arguments_are_refused(env, arg):
    p = env.spawn("front-bad", [str(FRONT), "--data", str(env.data), "--listen", arg])
    assert p.wait(STOP_TIMEOUT) == 2
    assert "unix:PATH" in p.stderr(), p.describe()
