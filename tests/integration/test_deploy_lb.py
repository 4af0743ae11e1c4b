"""The scale-out deployment of deploy/: one stratad, two strata-front
processes and a real nginx running deploy/nginx.conf in front of them.

The shipped nginx.conf is used with only the lines that name the host
(`listen`, the upstream `server` lines, `user`, `pid`) rewritten for
loopback ports, plus temp paths inside the test's own directory; everything
else (upgrade map, proxy headers, timeouts, least_conn) is what compose
runs. Checked through nginx: bearer tokens pass through, REST writes and
reads, requests are spread over both frontends (each answer names its
frontend in X-Strata-Frontend), WebSocket streams open through the proxy,
are balanced, and receive the live event a write causes; GraphQL's
graphql-transport-ws subprotocol passes through.

nginx must be installed (`make deps` installs it): without it this test
fails rather than skips.
"""
from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import signal
from pathlib import Path

import pytest
import websockets

from strata_harness import (EVENT_TIMEOUT, FRONT, REPO, START_TIMEOUT, STOP_TIMEOUT,
                            StrataEnv, WsReader, free_port, http, is_event, wait_for,
                            ws_open)

NGINX_CONF = REPO / "deploy" / "nginx.conf"
TOKEN = "lb-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
API = "/api/v1/storage"


def nginx_binary() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                     else None)
    if not path:
        pytest.fail("nginx is not installed: `make deps` (deploy/install-deps.sh) installs it",
                    pytrace=False)
    return path


def sub_once(pattern: str, repl: str, text: str) -> str:
    """re.sub that must match exactly once: if deploy/nginx.conf changes
    shape, this test says so instead of running a different config."""
    out, n = re.subn(pattern, lambda _m: repl, text, flags=re.M)
    assert n == 1, f"deploy/nginx.conf: expected one line matching {pattern!r}, found {n}"
    return out


def render_nginx_conf(listen_port: int, front_ports: list[int], tmp: Path) -> str:
    conf = NGINX_CONF.read_text()
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=2 fail_timeout=5s;\n"
                      for p in front_ports)
    conf = sub_once(r"^[ \t]*# BEGIN strata-front servers\n(?:.*\n)*?[ \t]*# END strata-front servers\n",
                    servers, conf)
    conf = sub_once(r"^[ \t]*listen 8080;$", f"        listen 127.0.0.1:{listen_port};", conf)
    # The master runs as whoever runs the test; as root, workers stay that
    # user too (the test's temp dir is private to it).
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};" if os.geteuid() == 0 else ""
    conf = sub_once(r"^user [^;]+;$", user, conf)
    conf = sub_once(r"^pid [^;]+;$", f"pid {tmp}/nginx.pid;", conf)
    temps = "".join(f"    {kind}_temp_path {tmp}/{kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = sub_once(r"^http \{$", "http {\n" + temps, conf)
    return conf


def front_of(resp) -> int:
    """The pid in an answer's X-Strata-Frontend: HOST:PID header."""
    v = resp.headers.get("X-Strata-Frontend")
    assert v and ":" in v, f"no X-Strata-Frontend header in {dict(resp.headers)}"
    return int(v.rsplit(":", 1)[1])


class LoadBalanced:
    """stratad + two frontends with a token file + nginx, all on loopback."""

    def __init__(self):
        self.env = StrataEnv()
        self.fronts = []        # (Proc, port)
        self.nginx = None
        self.port = None

    def start(self):
        env = self.env
        nginx = nginx_binary()
        env.start_stratad("--sample-every", "1")
        tokens = env.root / "tokens"
        tokens.write_text(f"{TOKEN} admin\n")
        tokens.chmod(0o600)
        for _ in range(2):
            self.fronts.append(self._start_front(tokens))

        tmp = env.root / "nginx"
        tmp.mkdir()
        for attempt in range(3):
            self.port = free_port()
            conf = tmp / "nginx.conf"
            conf.write_text(render_nginx_conf(self.port, [p for _, p in self.fronts], tmp))
            p = env.spawn("nginx", [nginx, "-e", "stderr", "-p", str(tmp), "-c", str(conf),
                                    "-g", "daemon off;"])

            def up():
                if not p.running():
                    return "gone"
                try:
                    return http("GET", self.url("/healthz"), timeout=2).status == 200
                except OSError:
                    return False

            if wait_for(up, START_TIMEOUT, "nginx answering /healthz", interval=0.05) is True:
                self.nginx = p
                return self
            if "Address already in use" not in p.stderr():
                raise AssertionError(f"nginx did not start:\n{p.describe()}")
        raise AssertionError(f"nginx could not bind a port:\n{p.describe()}")

    def _start_front(self, tokens: Path):
        env = self.env
        for attempt in range(3):
            port = free_port()
            p = env.spawn("front", [str(FRONT), "--data", str(env.data),
                                    "--listen", f"127.0.0.1:{port}", "--token-file", str(tokens)])

            def ready():
                if not p.running():
                    return "gone"
                try:
                    return http("GET", f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
                except OSError:
                    return False

            if wait_for(ready, START_TIMEOUT, f"frontend on {port} ready", interval=0.05) is True:
                return p, port
            if "cannot listen" not in p.stderr():
                raise AssertionError(f"frontend exited at start:\n{p.describe()}")
        raise AssertionError(f"frontend could not bind a port:\n{p.describe()}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, body=None, headers=AUTH):
        return http(method, self.url(path), body, headers=headers)

    def front_stats(self, port: int) -> dict:
        r = http("GET", f"http://127.0.0.1:{port}/api/v1/ws/stats", headers=AUTH)
        assert r.status == 200, r
        return r.body

    def close(self) -> list[str]:
        problems = []
        if self.nginx is not None:
            rc = self.nginx.stop(signal.SIGTERM)
            if self.nginx.forced_kill or rc != 0:
                problems.append(f"nginx exited {rc} after SIGTERM (forced: {self.nginx.forced_kill})")
        for p, port in self.fronts:
            rc = p.stop(signal.SIGTERM)
            if p.forced_kill or rc != 0:
                problems.append(f"strata-front on {port} exited {rc} after SIGTERM")
        return problems + self.env.close()


@pytest.fixture(scope="module")
def lb():
    setup = LoadBalanced()
    try:
        setup.start()
    except BaseException:
        setup.close()
        raise
    yield setup
    problems = setup.close()
    if problems:
        pytest.fail("teardown: " + "; ".join(problems) + "\n" +
                    getattr(setup.env, "last_logs", ""), pytrace=False)


def test_rendered_config_is_the_shipped_one_on_loopback(lb):
    conf = (lb.env.root / "nginx" / "nginx.conf").read_text()
    assert "front-1" not in conf and "front-2" not in conf
    for p, port in lb.fronts:
        assert f"server 127.0.0.1:{port} " in conf
    assert f"listen 127.0.0.1:{lb.port};" in conf
    # Only loopback listeners in this test.
    assert re.findall(r"^\s*listen\s+([^;]+);", conf, re.M) == [f"127.0.0.1:{lb.port}"]


def test_tokens_pass_through_and_are_required(lb):
    r = lb.request("GET", f"{API}/status", headers={})
    assert r.status == 401, f"without a token through nginx: {r}"
    assert r.body["error"]["code"] == "unauthorized", r
    r = lb.request("GET", f"{API}/status")
    assert r.status == 200 and r.body["pid"] == lb.env.stratad.pid, r
    # Public health routes stay public behind the proxy.
    assert lb.request("GET", "/readyz", headers={}).status == 200


def test_rest_write_then_read_through_both_frontends(lb):
    r = lb.request("POST", f"{API}/lsm", {"name": "lbtree", "sync": "commit"})
    assert r.status == 201, r
    r = lb.request("PUT", f"{API}/lsm/lbtree/put", {"key": "k1", "value": "through nginx"})
    assert r.status == 200, r
    writer = front_of(r)
    pids = {p.pid for p, _ in lb.fronts}
    assert writer in pids, f"X-Strata-Frontend pid {writer} is none of the frontends {pids}"

    # Every frontend reads what one of them wrote: the storage is stratad's.
    readers: dict[int, int] = {}
    for _ in range(20):
        r = lb.request("GET", f"{API}/lsm/lbtree/get/k1")
        assert r.status == 200 and r.body == {"key": "k1", "value": "through nginx"}, r
        readers[front_of(r)] = readers.get(front_of(r), 0) + 1
    assert set(readers) == pids, \
        f"20 requests through nginx reached {readers}; expected both frontends {pids}"


def test_requests_are_spread_over_both_frontends(lb):
    seen: dict[int, int] = {}
    for _ in range(20):
        r = lb.request("GET", f"{API}/status")
        assert r.status == 200, r
        seen[front_of(r)] = seen.get(front_of(r), 0) + 1
    assert set(seen) == {p.pid for p, _ in lb.fronts}, seen
    # Idle upstreams tie under least_conn and go round robin: neither
    # frontend is starved.
    assert min(seen.values()) >= 5, f"uneven spread over the frontends: {seen}"


def test_websockets_are_balanced_and_get_live_events(lb):
    """Two event streams through nginx land on different frontends (least_conn),
    and one write through nginx reaches both as a live event."""
    ports = [port for _, port in lb.fronts]

    def pages_clients():
        return [lb.front_stats(p)["clients"]["by_stream"]["pages"] for p in ports]

    assert pages_clients() == [0, 0]

    async def main():
        url = lb.ws_url(f"/api/v1/ws/storage/pages?token={TOKEN}")
        async with ws_open(url) as ws1, ws_open(url) as ws2:
            counts = await asyncio.to_thread(
                wait_for, lambda: (c := pages_clients()) == [1, 1] and c,
                START_TIMEOUT, "one pages stream on each frontend")
            assert counts == [1, 1]

            r = await asyncio.to_thread(lb.request, "POST", f"{API}/pages", {})
            assert r.status == 201, r
            pid = r.body["page_id"]
            for ws in (ws1, ws2):
                msg = await WsReader(ws).first(
                    lambda m: is_event(m, "page_event", "PageAllocated")
                    and m["data"]["PageAllocated"].get("page_id") == pid,
                    timeout=EVENT_TIMEOUT, what=f"PageAllocated for page {pid}")
                assert msg["epoch"] > 0 and msg["seq"] > 0, msg

    asyncio.run(main())
    # Closed through the proxy: both frontends see their client go.
    wait_for(lambda: pages_clients() == [0, 0], STOP_TIMEOUT, "the streams closed")


def test_graphql_websocket_subprotocol_passes_through(lb):
    async def main():
        ws = await asyncio.wait_for(
            websockets.connect(lb.ws_url("/graphql"), subprotocols=["graphql-transport-ws"],
                               extra_headers=AUTH, open_timeout=START_TIMEOUT), START_TIMEOUT)
        try:
            assert ws.subprotocol == "graphql-transport-ws"
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            ack = json.loads(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
            assert ack.get("type") == "connection_ack", ack
        finally:
            await asyncio.wait_for(ws.close(), 5)

    asyncio.run(main())
