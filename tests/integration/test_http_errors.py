"""HTTP error answers: always JSON {"error":{"code","message"}}, the right
status, and the frontend keeps serving afterwards."""
import select
import socket

import pytest

from strata_harness import (HTTP_TIMEOUT, assert_json_error, parse_raw_response, raw_http,
                            read_response)

MAX_BODY = 8 << 20  # strata-front's request body limit


@pytest.fixture
def front(shared_cluster):
    yield shared_cluster
    # Whatever the test sent, the frontend still answers.
    assert shared_cluster.front.running(), shared_cluster.front.describe()
    assert shared_cluster.get("/healthz").status == 200


@pytest.mark.parametrize("path", [
    "/nope",
    "/api/v1/storage/nope",
    "/api/v1/storage/status/extra",
    "/api/v1/storage/statusx",
    "/",
])
def test_unknown_route_is_404_json(front, path):
    r = front.get(path)
    err = assert_json_error(r, 404, "not_found")
    assert r.headers.get("Content-Type", "").startswith("application/json")
    assert path in err["message"], err


@pytest.mark.parametrize("method, path, allow", [
    ("POST", "/api/v1/storage/status", "GET"),
    ("PUT", "/api/v1/storage/status", "GET"),
    ("DELETE", "/api/v1/storage/status", "GET"),
    ("PATCH", "/api/v1/storage/status", "GET"),
    ("POST", "/healthz", "GET"),
    ("DELETE", "/readyz", "GET"),
])
def test_wrong_method_is_405_json_with_allow(front, method, path, allow):
    r = front.request(method, path, {} if method in ("POST", "PUT", "PATCH") else None)
    assert_json_error(r, 405)
    got = [m.strip() for m in (r.headers.get("Allow") or "").split(",") if m.strip()]
    assert allow in got, f"Allow header {r.headers.get('Allow')!r}, expected it to list {allow}"


MALFORMED = [
    b"{not json",
    b"[1,2,3]",
    b"\"a string\"",
    b"\xff\xfe\x00garbage",
    b"{\"a\":" * 5000,  # deep nesting, never closed
]


@pytest.mark.parametrize("body", MALFORMED, ids=["syntax", "array", "string", "binary", "deep"])
def test_malformed_body_on_a_post_route_is_400(front, body):
    r = front.request("POST", "/api/v1/storage/pages", body)
    if r.status == 404:
        pytest.skip("POST /api/v1/storage/pages does not exist in this build")
    err = assert_json_error(r, 400, "bad_request")
    assert "JSON" in err["message"] or "json" in err["message"], err


@pytest.mark.parametrize("body", MALFORMED, ids=["syntax", "array", "string", "binary", "deep"])
def test_malformed_body_on_a_get_only_path_is_405(front, body):
    # The method is wrong before the body is looked at.
    r = front.request("POST", "/api/v1/storage/status", body)
    assert_json_error(r, 405)


def test_body_after_an_early_answer_does_not_desync_keepalive(front):
    """A 405 answered before its body is read: the body must not be taken
    for the next request on the same keep-alive connection."""
    body = b"GET /nope-smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
    req = (b"POST /api/v1/storage/status HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body +
           b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = raw_http(front.port, req, until_close=True)
    responses = [b"HTTP/1.1" + part for part in out.split(b"HTTP/1.1")[1:]]
    statuses = [parse_raw_response(r)[0] for r in responses]
    assert statuses[:2] == [405, 200], f"responses {statuses}: {out[:600]!r}"
    assert 404 not in statuses, f"the body was served as a request: {statuses}"


def test_long_path_is_a_json_error(front):
    r = front.get("/" + "a" * 3000)
    assert_json_error(r, (404, 413, 414, 431))


def test_unsupported_method_is_a_json_error(front):
    out = raw_http(front.port, b"BREW /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                   until_close=True)
    if out:  # closing the connection is an acceptable answer to garbage
        st, _, body = parse_raw_response(out)
        assert 400 <= st < 500, out[:300]


def _post_route(front):
    """A POST route of this build that takes a JSON body, or skip."""
    # Read-only routes first: probing one with {} changes nothing.
    candidates = ["/api/v1/storage/io/vectored-read", "/api/v1/storage/json/extract",
                  "/api/v1/storage/pages"]
    for path in candidates:
        if front.request("POST", path, {}).status not in (404, 405):
            return path
    pytest.skip("no POST route exists yet (frontend/routes.c serves only GET /healthz, "
                "/readyz and /api/v1/storage/status); a POST to status is 405 before its "
                "size is looked at")


def test_oversized_body_is_413(front):
    """> 8 MiB Content-Length on a POST route: 413 JSON, decided from the
    header alone (no need to send the body), and the connection closed."""
    route = _post_route(front)
    req = (f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {MAX_BODY + 1}\r\n\r\n").encode()
    st, hdrs, body = parse_raw_response(raw_http(front.port, req))
    assert_json_error((st, hdrs, body), 413, "too_large")
    assert hdrs.get("connection", "").lower() == "close", hdrs


def test_oversized_chunked_body_is_413(front):
    """No Content-Length (chunked): the limit holds while the body streams in."""
    route = _post_route(front)
    chunk = b" " * 65536
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    with socket.create_connection(("127.0.0.1", front.port), timeout=HTTP_TIMEOUT) as s:
        s.sendall((f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n").encode())
        sent = 0
        try:
            # Stop sending as soon as an answer is there (bounded: 2x the limit).
            while sent < 2 * MAX_BODY and not select.select([s], [], [], 0)[0]:
                s.sendall(framed)
                sent += len(chunk)
            if sent >= 2 * MAX_BODY:
                s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        buf = read_response(s)
    st, hdrs, body = parse_raw_response(buf)
    assert_json_error((st, hdrs, body), 413, "too_large")
    assert sent > MAX_BODY - len(chunk), f"answered 413 after only {sent} bytes"


def test_body_at_a_405_path_with_huge_content_length_is_answered(front):
    """The header alone answers (405 here): the frontend does not wait for
    8 MiB that never come."""
    req = (b"POST /api/v1/storage/status HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    st, hdrs, body = parse_raw_response(raw_http(front.port, req))
    assert_json_error((st, hdrs, body), (405, 413))
