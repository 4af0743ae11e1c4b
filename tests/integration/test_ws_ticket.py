"""WebSocket tickets (frontend/ticket.h): POST /api/v1/ws/ticket with a
bearer token answers a short-lived signed ticket; ?ticket= opens a stream
in place of ?token=. A ticket is accepted once per frontend, by every
frontend sharing the token file, until it expires; tampered, expired and
reused tickets get a 401 JSON saying which. Loopback only."""
import asyncio
import time

import pytest
import websockets

from strata_harness import (EVENT_TIMEOUT, FRONT, START_TIMEOUT, WsReader, assert_json_error,
                            free_port, http, is_event, parse_raw_response, raw_http, wait_for)

READ_TOKEN = "ticket-read-token-0123456789"
ADMIN_TOKEN = "ticket-admin-token-0123456789"
STREAM = "/api/v1/ws/storage/buffer-pool"


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def token_file(env, name="tokens", extra=""):
    p = env.root / name
    p.write_text(f"# test tokens\n{READ_TOKEN} read\n{ADMIN_TOKEN} admin\n{extra}")
    p.chmod(0o600)
    return p


@pytest.fixture
def authed(strata):
    strata.tokens = token_file(strata)
    strata.start_stratad()
    strata.start_front("--token-file", str(strata.tokens))
    return strata


def mint(port, token=READ_TOKEN, body=None):
    r = http("POST", f"http://127.0.0.1:{port}/api/v1/ws/ticket", body,
             headers=bearer(token) if token else {})
    return r


def ticket_of(port, token=READ_TOKEN, body=None):
    r = mint(port, token, body)
    assert r.status == 200, r
    return r.body["ticket"]


def upgrade(port, query):
    """A raw WebSocket handshake on STREAM?query: (status, headers, body)."""
    req = (f"GET {STREAM}?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return parse_raw_response(raw_http(port, req.encode(), until_close=True))


def assert_refused(port, query, message):
    status, hdrs, body = upgrade(port, query)
    err = assert_json_error((status, hdrs, body), 401, "unauthorized")
    assert err["message"] == message, body
    assert READ_TOKEN not in str(body) and ADMIN_TOKEN not in str(body)


def receives_events(port, query):
    """Opens STREAM?query and waits for a buffer-pool event."""
    async def main():
        async with websockets.connect(f"ws://127.0.0.1:{port}{STREAM}?{query}",
                                      open_timeout=START_TIMEOUT) as ws:
            await WsReader(ws).first(lambda m: is_event(m, "buffer_pool_event"),
                                     what=f"an event on ?{query[:20]}...")
    asyncio.run(main())


def start_second_front(env, tokens):
    """Another frontend on the same stratad (the harness holds one)."""
    for _ in range(3):
        port = free_port()
        p = env.spawn("front-b", [str(FRONT), "--data", str(env.data),
                                  "--listen", f"127.0.0.1:{port}", "--token-file", str(tokens)])

        def ready():
            if not p.running():
                raise AssertionError(p.describe())
            try:
                return http("GET", f"http://127.0.0.1:{port}/readyz", timeout=2).status == 200
            except OSError:
                return False
        try:
            wait_for(ready, START_TIMEOUT, "the second frontend ready", interval=0.05)
            return p, port
        except AssertionError as e:
            if "cannot listen" not in str(e):
                raise
    raise AssertionError("the second frontend could not bind a port")


def test_minting_needs_a_token_and_carries_its_role(authed):
    assert_json_error(mint(authed.port, token=None), 401, "unauthorized")
    assert_json_error(mint(authed.port, token="wrong-token-0123456789abc"), 401, "unauthorized")
    r = mint(authed.port)
    assert r.status == 200, r
    assert set(r.body) == {"ticket", "expires_in", "role"}, r.body
    assert r.body["expires_in"] == 30 and r.body["role"] == "read", r.body
    assert r.headers.get("Cache-Control") == "no-store", dict(r.headers)
    tk = r.body["ticket"]
    assert READ_TOKEN not in tk
    assert tk.startswith("v1.read.") and tk.count(".") == 4, tk
    exp = int(tk.split(".")[2])
    assert exp > 0
    r = mint(authed.port, ADMIN_TOKEN, {"expires_in": 5})
    assert r.status == 200 and r.body["role"] == "admin" and r.body["expires_in"] == 5, r
    for bad in ({"expires_in": 0}, {"expires_in": 31}, {"expires_in": "5"}, [1]):
        assert_json_error(mint(authed.port, body=bad), 400, "bad_request")


def test_ticket_opens_a_stream_once(authed):
    tk = ticket_of(authed.port)
    receives_events(authed.port, f"ticket={tk}")
    assert_refused(authed.port, f"ticket={tk}", "ticket already used")
    # A fresh one works again; the token in the URL still works (discouraged).
    receives_events(authed.port, f"ticket={ticket_of(authed.port)}")
    receives_events(authed.port, f"token={READ_TOKEN}")
    assert_refused(authed.port, "token=wrong-token-0123456789abc",
                   "the token in ?token= is not valid")
    status, _, body = upgrade(authed.port, "")
    assert_json_error((status, {}, body), 401, "unauthorized")

    st = authed.get("/api/v1/ws/stats", headers=bearer(READ_TOKEN)).body["tickets"]
    assert st["issued"] == 2 and st["accepted"] == 2, st
    assert st["rejected"]["reused"] == 1 and st["rejected"]["expired"] == 0, st
    m = authed.get("/metrics", headers=bearer(READ_TOKEN)).body
    assert "strata_ws_tickets_issued_total 2\n" in m, m
    assert 'strata_ws_tickets_rejected_total{reason="reused"} 1\n' in m, m


def test_a_ticket_from_one_frontend_opens_a_stream_on_another(authed):
    front_b, port_b = start_second_front(authed, authed.tokens)
    try:
        tk = ticket_of(authed.port)
        receives_events(port_b, f"ticket={tk}")
        assert_refused(port_b, f"ticket={tk}", "ticket already used")
        # Frontend A never saw it used: within its lifetime it is accepted
        # there too (the lifetime bounds replay across frontends; documented).
        receives_events(authed.port, f"ticket={tk}")
        tk_b = ticket_of(port_b, ADMIN_TOKEN)
        receives_events(authed.port, f"ticket={tk_b}")
    finally:
        assert front_b.stop() == 0, front_b.describe()


def test_another_token_file_refuses_the_ticket(authed):
    other = token_file(authed, "tokens-other", "other-token-0123456789abcdef read\n")
    front_b, port_b = start_second_front(authed, other)
    try:
        assert_refused(port_b, f"ticket={ticket_of(authed.port)}", "ticket signature invalid")
    finally:
        assert front_b.stop() == 0, front_b.describe()


def test_tampered_tickets_are_refused(authed):
    tk = ticket_of(authed.port)
    v, role, exp, nonce, mac = tk.split(".")
    assert role == "read"
    forged = [
        (f"{v}.admin.{exp}.{nonce}.{mac}", "ticket signature invalid"),     # a stronger role
        (f"{v}.{role}.{int(exp) + 20}.{nonce}.{mac}", "ticket signature invalid"),  # longer life
        (f"{v}.{role}.{exp}.{nonce}.{mac[:-1]}{'0' if mac[-1] != '0' else '1'}",
         "ticket signature invalid"),
        (f"{v}.{role}.{exp}.{nonce}", "ticket malformed"),
        ("not-a-ticket", "ticket malformed"),
        (READ_TOKEN, "ticket malformed"),
    ]
    for t, msg in forged:
        assert_refused(authed.port, f"ticket={t}", msg)
    receives_events(authed.port, f"ticket={tk}")  # the genuine one was not used up
    st = authed.get("/api/v1/ws/stats", headers=bearer(READ_TOKEN)).body["tickets"]
    assert st["rejected"]["bad_signature"] == 3 and st["rejected"]["malformed"] == 3, st


def test_expired_ticket_is_refused(authed):
    r = mint(authed.port, body={"expires_in": 1})
    assert r.status == 200 and r.body["expires_in"] == 1, r
    exp = int(r.body["ticket"].split(".")[2])
    # Wait until the wall clock (the frontend's too: same host) passed it.
    wait_for(lambda: time.time() >= exp + 0.05, 5 + EVENT_TIMEOUT, "the ticket's expiry")
    assert_refused(authed.port, f"ticket={r.body['ticket']}", "ticket expired")
    m = authed.get("/metrics", headers=bearer(READ_TOKEN)).body
    assert 'strata_ws_tickets_rejected_total{reason="expired"} 1\n' in m, m


def test_no_token_file_no_tickets(cluster):
    r = cluster.request("POST", "/api/v1/ws/ticket", {})
    err = assert_json_error(r, 404, "not_found")
    assert "--token-file" in err["message"], err
    receives_events(cluster.port, "x=1")  # streams need nothing
    assert "tickets" not in cluster.get("/api/v1/ws/stats").body


def test_openapi_describes_the_ticket_route(cluster):
    doc = cluster.get("/api/v1/openapi.json").body
    op = doc["paths"]["/api/v1/ws/ticket"]["post"]
    assert op["x-required-role"] == "read" and "ticket" in op["summary"], op
