"""Browser Origin checks (frontend/origin.h): CORS on HTTP, the Origin of
WebSocket handshakes, for REST, WebSocket streams and GraphQL alike.

Requests without an Origin (curl, the CLI) are unaffected; a loopback
frontend without --allow-origin allows loopback origins; a foreign origin
is refused (403 JSON on HTTP, 403 at the WebSocket handshake) unless it is
given with --allow-origin, which also makes its answers carry the CORS
headers. Everything listens on loopback only."""
import asyncio
import socket
import subprocess
import time

import pytest
import websockets

from strata_harness import (FRONT, HTTP_TIMEOUT, START_TIMEOUT, STOP_TIMEOUT, StrataEnv,
                            assert_json_error, parse_raw_response, raw_http)

FOREIGN = "https://app.example.com"
OTHER = "https://other.example.net"


@pytest.fixture(scope="module")
def default_front():
    """stratad + a loopback frontend without --allow-origin."""
    env = StrataEnv()
    try:
        env.start()
        yield env
    finally:
        problems = env.close()
        assert not problems, problems


@pytest.fixture(scope="module")
def allowing_front():
    """stratad + a loopback frontend allowing FOREIGN (given twice, as a
    comma list with a trailing slash and a default port, to show they are
    normalised)."""
    env = StrataEnv()
    try:
        env.start_stratad()
        env.start_front("--allow-origin", f"{FOREIGN}:443/, http://localhost:9",
                        "--allow-origin", FOREIGN)
        yield env
    finally:
        problems = env.close()
        assert not problems, problems


def origin(o):
    return {"Origin": o}


def assert_cors(resp, want_origin):
    h = resp.headers
    assert h.get("Access-Control-Allow-Origin") == want_origin, dict(h)
    assert "origin" in h.get("Vary", "").lower(), dict(h)


def assert_no_cors(resp):
    assert resp.headers.get("Access-Control-Allow-Origin") is None, dict(resp.headers)


def preflight(env, path, o, method="POST"):
    """A CORS preflight as a browser sends it, on a raw connection."""
    req = (f"OPTIONS {path} HTTP/1.1\r\nHost: 127.0.0.1:{env.port}\r\nOrigin: {o}\r\n"
           f"Access-Control-Request-Method: {method}\r\n"
           f"Access-Control-Request-Headers: authorization, content-type\r\n"
           "Connection: close\r\n\r\n").encode()
    # a 204 has no Content-Length: the answer ends when the server closes
    return parse_raw_response(raw_http(env.port, req, until_close=True))


async def ws_handshake(url, o, subprotocols=None):
    """'open' with the first message, or the refusal's HTTP status."""
    try:
        async with websockets.connect(url, origin=o, subprotocols=subprotocols,
                                      open_timeout=START_TIMEOUT) as ws:
            if subprotocols:
                await ws.send('{"type":"connection_init"}')
            return "open", await asyncio.wait_for(ws.recv(), START_TIMEOUT)
    except websockets.exceptions.InvalidStatusCode as e:
        return e.status_code, None


# ---- a loopback frontend without --allow-origin


def test_requests_without_origin_are_unaffected(default_front):
    r = default_front.get("/api/v1/storage/status")
    assert r.status == 200 and r.body["pid"] == default_front.stratad.pid, r
    assert_no_cors(r)
    r = default_front.request("POST", "/graphql", {"query": "{ bufferPool { totalPages } }"})
    assert r.status == 200 and "errors" not in r.body, r


@pytest.mark.parametrize("o", ["http://localhost:3000", "http://127.0.0.1:5173",
                               "http://[::1]:8000", "http://localhost"])
def test_loopback_origins_are_allowed_by_default(default_front, o):
    r = default_front.get("/api/v1/storage/status", headers=origin(o))
    assert r.status == 200 and r.body["pid"] == default_front.stratad.pid, r
    assert_cors(r, o)
    # an error answer carries them too, so a page can read it
    r = default_front.get("/api/v1/storage/nope", headers=origin(o))
    assert_json_error(r, 404, "not_found")
    assert_cors(r, o)


def test_own_origin_is_allowed(default_front):
    own = f"http://127.0.0.1:{default_front.port}"
    r = default_front.get("/api/v1/storage/status", headers=origin(own))
    assert r.status == 200, r


@pytest.mark.parametrize("o", [FOREIGN, "null", "http://localhost.evil.example:3000",
                               "http://127.0.0.1.evil.example", "not an origin"])
def test_foreign_origin_is_refused_on_http(default_front, o):
    for method, path, body in (("GET", "/api/v1/storage/status", None),
                               ("GET", "/healthz", None),
                               ("POST", "/api/v1/storage/lsm", {"name": "x"})):
        r = default_front.request(method, path, body, headers=origin(o))
        err = assert_json_error(r, 403, "forbidden")
        assert "--allow-origin" in err["message"], err
        assert_no_cors(r)
    # nothing was created by the refused POST
    r = default_front.get("/api/v1/storage/lsm/x/stats")
    assert_json_error(r, 404)


def test_foreign_origin_is_refused_on_graphql_http(default_front):
    r = default_front.request("POST", "/graphql", {"query": "{ bufferPool { totalPages } }"},
                              headers=origin(FOREIGN))
    assert r.status == 403, r
    assert "--allow-origin" in r.body["errors"][0]["message"], r


def test_foreign_origin_is_refused_on_websocket(default_front):
    async def main():
        url = default_front.ws_url("/api/v1/ws/storage")
        assert await ws_handshake(url, FOREIGN) == (403, None)
        assert await ws_handshake(default_front.ws_url("/api/v1/ws/storage/io"), "null") == (403, None)
        assert await ws_handshake(default_front.ws_url("/graphql"), FOREIGN,
                                  ["graphql-transport-ws"]) == (403, None)
        # the same handshakes from a loopback page, and without an Origin, work
        state, first = await ws_handshake(url, "http://localhost:3000")
        assert state == "open" and '"connection"' in first, first
        state, first = await ws_handshake(url, None)
        assert state == "open" and '"connection"' in first, first
        state, first = await ws_handshake(default_front.ws_url("/graphql"), "http://localhost:3000",
                                          ["graphql-transport-ws"])
        assert state == "open" and "connection_ack" in first, first

    asyncio.run(main())


def test_websocket_403_is_a_json_answer(default_front):
    req = (f"GET /api/v1/ws/storage HTTP/1.1\r\nHost: 127.0.0.1:{default_front.port}\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           f"Origin: {FOREIGN}\r\n\r\n").encode()
    status, _, body = parse_raw_response(raw_http(default_front.port, req, until_close=True))
    assert status == 403 and body["error"]["code"] == "forbidden", body


def test_preflight(default_front):
    o = "http://localhost:3000"
    for path in ("/api/v1/storage/lsm", "/graphql"):
        status, h, _ = preflight(default_front, path, o)
        assert status == 204, (path, status, h)
        assert h.get("access-control-allow-origin") == o, h
        methods = {m.strip() for m in h.get("access-control-allow-methods", "").split(",")}
        assert {"GET", "POST", "PUT", "DELETE"} <= methods, h
        allowed = h.get("access-control-allow-headers", "").lower()
        assert "authorization" in allowed and "content-type" in allowed, h
        assert int(h.get("access-control-max-age", "0")) > 0, h
        status, h, body = preflight(default_front, path, FOREIGN)
        assert status == 403 and "access-control-allow-origin" not in h, (path, status, h, body)
    # an OPTIONS without Access-Control-Request-Method is no preflight: routed
    r = default_front.request("OPTIONS", "/api/v1/storage/status", headers=origin(o))
    assert r.status == 405, r


def test_preflight_keeps_the_connection(default_front):
    """A preflight answer ends its transaction: the next request on the same
    connection is served."""
    with socket.create_connection(("127.0.0.1", default_front.port), timeout=HTTP_TIMEOUT) as s:
        s.sendall((f"OPTIONS /api/v1/storage/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Origin: http://localhost:3000\r\nAccess-Control-Request-Method: GET\r\n\r\n"
                   "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode())
        buf = b""
        deadline = time.monotonic() + HTTP_TIMEOUT
        while b'"status":"ok"' not in buf and time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    assert buf.startswith(b"HTTP/1.1 204"), buf
    assert b"HTTP/1.1 200" in buf and b'"status":"ok"' in buf, buf


# ---- a loopback frontend with --allow-origin


def test_allowed_origin_gets_cors_headers(allowing_front):
    r = allowing_front.get("/api/v1/storage/status", headers=origin(FOREIGN))
    assert r.status == 200 and r.body["pid"] == allowing_front.stratad.pid, r
    assert_cors(r, FOREIGN)
    r = allowing_front.request("POST", "/graphql", {"query": "{ bufferPool { totalPages } }"},
                               headers=origin(FOREIGN))
    assert r.status == 200 and "errors" not in r.body, r
    assert_cors(r, FOREIGN)
    status, h, _ = preflight(allowing_front, "/api/v1/storage/lsm", FOREIGN, "PUT")
    assert status == 204 and h.get("access-control-allow-origin") == FOREIGN, (status, h)


def test_allow_list_replaces_the_loopback_default(allowing_front):
    # listed (http://localhost:9) and the frontend's own origin: allowed
    assert allowing_front.get("/healthz", headers=origin("http://localhost:9")).status == 200
    own = f"http://127.0.0.1:{allowing_front.port}"
    assert allowing_front.get("/healthz", headers=origin(own)).status == 200
    # other loopback pages and other sites: refused
    for o in ("http://localhost:3000", OTHER):
        assert_json_error(allowing_front.get("/healthz", headers=origin(o)), 403, "forbidden")


def test_allowed_origin_on_websocket(allowing_front):
    async def main():
        url = allowing_front.ws_url("/api/v1/ws/storage")
        state, first = await ws_handshake(url, FOREIGN)
        assert state == "open" and '"connection"' in first, first
        assert await ws_handshake(url, OTHER) == (403, None)
        state, first = await ws_handshake(allowing_front.ws_url("/graphql"), FOREIGN,
                                          ["graphql-transport-ws"])
        assert state == "open" and "connection_ack" in first, first

    asyncio.run(main())


def test_star_allows_any_origin_but_null(strata):
    strata.start_stratad()
    strata.start_front("--allow-origin", "*")
    r = strata.get("/api/v1/storage/status", headers=origin(OTHER))
    assert r.status == 200, r
    assert_cors(r, OTHER)
    assert_json_error(strata.get("/healthz", headers=origin("null")), 403, "forbidden")


@pytest.mark.parametrize("arg", ["https://app.example.com/path", "app.example.com",
                                 "https://", "https://a.example:99999", "", "https://a.example,"])
def test_bad_allow_origin_is_refused_at_start(arg):
    p = subprocess.run([str(FRONT), "--listen", "127.0.0.1:1", "--allow-origin", arg],
                       capture_output=True, text=True, timeout=STOP_TIMEOUT)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--allow-origin" in p.stderr, p.stderr
    assert "scheme://host" in p.stderr or "empty entry" in p.stderr, p.stderr


def test_openapi_describes_the_origin_rule(default_front):
    doc = default_front.get("/api/v1/openapi.json").body
    assert "--allow-origin" in doc["info"]["description"], doc["info"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert "403" in op["responses"], (method, path)
