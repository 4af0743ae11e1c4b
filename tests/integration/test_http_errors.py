"""HTTP error answers: always JSON {"error":{"code","message"}}, the right
status, and the frontend keeps serving afterwards."""
import pytest

from strata_harness import assert_json_error, parse_raw_response, raw_http

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


@pytest.mark.parametrize("body", [
    b"{not json",
    b"[1,2,3]",
    b"\"a string\"",
    b"\xff\xfe\x00garbage",
    b"{\"a\":" * 2000,  # deep nesting, never closed
])
def test_malformed_body_is_a_json_error(front, body):
    # No POST route takes a body yet: the known path answers 405 first;
    # either way the answer is a JSON error, never a crash.
    r = front.request("POST", "/api/v1/storage/status", body)
    assert_json_error(r, (400, 405))


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


def test_oversized_body_is_413(front):
    """> 8 MiB Content-Length on a POST route: 413 JSON, decided from the
    header alone (no need to send the body), and the connection closed."""
    candidates = ["/api/v1/storage/json/extract", "/api/v1/storage/json/merge",
                  "/api/v1/storage/pages", "/api/v1/storage/lsm"]
    route = None
    for path in candidates:
        if front.request("POST", path, {}).status not in (404, 405):
            route = path
            break
    if route is None:
        pytest.skip("no POST route exists yet (frontend/routes.c serves only GET "
                    "/healthz, /readyz and /api/v1/storage/status); a POST to status is 405 "
                    "before its size is looked at")
    req = (f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {MAX_BODY + 1}\r\n\r\n").encode()
    st, hdrs, body = parse_raw_response(raw_http(front.port, req))
    assert_json_error((st, hdrs, body), 413, "too_large")


def test_body_at_a_405_path_with_huge_content_length_is_answered(front):
    """The header alone answers (405 here): the frontend does not wait for
    8 MiB that never come."""
    req = (b"POST /api/v1/storage/status HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    st, hdrs, body = parse_raw_response(raw_http(front.port, req))
    assert_json_error((st, hdrs, body), (405, 413))
