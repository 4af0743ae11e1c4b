"""Bearer tokens (--token-file): REST routes and WebSocket streams need one
when the frontend has a token file; /healthz and /readyz stay public.
Everything here listens on loopback only."""
import asyncio
import subprocess

import pytest
import websockets

from strata_harness import (EVENT_TIMEOUT, FRONT, START_TIMEOUT, WsReader, assert_json_error,
                            is_event)

READ_TOKEN = "read-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"


@pytest.fixture
def authed(strata):
    tokens = strata.root / "tokens"
    tokens.write_text(f"# test tokens\n{READ_TOKEN} read\n{ADMIN_TOKEN} admin\n")
    tokens.chmod(0o600)
    strata.start_stratad()
    strata.start_front("--token-file", str(tokens))
    return strata


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def test_rest_needs_a_valid_token(authed):
    assert authed.get("/healthz").status == 200
    assert authed.get("/readyz").status == 200
    assert_json_error(authed.get("/api/v1/storage/status"), 401, "unauthorized")
    assert_json_error(authed.get("/api/v1/storage/status", headers=bearer("wrong-token-0123456789")),
                      401, "unauthorized")
    assert_json_error(authed.get("/api/v1/storage/status",
                                 headers={"Authorization": READ_TOKEN}), 401, "unauthorized")
    for tok in (READ_TOKEN, ADMIN_TOKEN):
        r = authed.get("/api/v1/storage/status", headers=bearer(tok))
        assert r.status == 200 and r.body["pid"] == authed.stratad.pid, r


def test_websocket_needs_a_valid_token(authed):
    url = authed.ws_url("/api/v1/ws/storage/buffer-pool")

    async def main():
        async with websockets.connect(url, extra_headers=bearer(READ_TOKEN),
                                      open_timeout=START_TIMEOUT) as ws:
            await WsReader(ws).first(lambda m: is_event(m, "buffer_pool_event"),
                                     what="an event with a valid token")
        for headers in ({}, bearer("wrong-token-0123456789")):
            try:
                ws = await asyncio.wait_for(
                    websockets.connect(url, extra_headers=headers, open_timeout=START_TIMEOUT),
                    START_TIMEOUT)
            except (websockets.exceptions.InvalidHandshake, ConnectionError):
                continue
            # Accepted: it must at least not stream storage events.
            got = []
            try:
                got.append(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
                got.append(await asyncio.wait_for(ws.recv(), EVENT_TIMEOUT))
            except (asyncio.TimeoutError, websockets.exceptions.ConnectionClosed):
                pass
            await ws.close()
            raise AssertionError(
                f"a WebSocket without a valid token was accepted (headers {headers}); "
                f"it received: {got}")

    asyncio.run(main())


@pytest.mark.parametrize("content, needle", [
    ("short read\n", "shorter than 16"),
    ("abcdefghijklmnopqrstuvwxyz superuser\n", "role must be"),
    ("abcdefghijklmnopqrstuvwxyz read extra\n", "TOKEN ROLE"),
    ("# only a comment\n", "no tokens"),
])
def test_bad_token_file_is_refused(strata, content, needle):
    tokens = strata.root / "tokens"
    tokens.write_text(content)
    r = subprocess.run([str(FRONT), "--data", str(strata.data), "--listen", "127.0.0.1:0",
                        "--token-file", str(tokens)],
                       capture_output=True, text=True, timeout=START_TIMEOUT)
    assert r.returncode != 0, r
    assert needle in r.stderr, r.stderr


def test_listening_beyond_loopback_needs_a_token_file(strata):
    # 192.0.2.1 (TEST-NET-1) is not an address of this host: even a frontend
    # that wrongly went ahead could not listen beyond loopback.
    r = subprocess.run([str(FRONT), "--data", str(strata.data), "--listen", "192.0.2.1:18080"],
                       capture_output=True, text=True, timeout=START_TIMEOUT)
    assert r.returncode != 0, r
    assert "--token-file" in r.stderr, r.stderr
