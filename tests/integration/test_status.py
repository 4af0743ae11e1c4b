"""GET /api/v1/storage/status reports the real stratad, not made-up values."""
import asyncio
import os
import re
import subprocess
import time

from strata_harness import (STATS_INTERVAL_MS, WsReader, is_event, is_int, is_number,
                            ws_open)

FRAMES = 1234


def _pkg_version(pkg):
    try:
        r = subprocess.run(["pkg-config", "--modversion", pkg], capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def test_status_fields_are_real(strata):
    strata.start(frames=FRAMES)
    r = strata.get("/api/v1/storage/status")
    assert r.status == 200, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), dict(r.headers)
    s = r.body
    assert isinstance(s, dict), s

    assert s["pid"] == strata.stratad.pid
    assert s["frame_count"] == FRAMES
    assert s["page_size"] == 4096
    assert is_int(s["epoch"]) and 0 < s["epoch"] < 2**53, s["epoch"]
    assert s["data_dir"] == os.path.realpath(strata.data)
    assert s["stats_interval_ms"] == STATS_INTERVAL_MS
    assert is_number(s["uptime_s"]) and 0 <= s["uptime_s"] < 600, s["uptime_s"]
    assert is_int(s["started_at"]) and abs(s["started_at"] - time.time()) < 600, s["started_at"]
    assert s["ctl"] == f"ipc://{os.path.realpath(strata.data)}/ctl.sock"
    assert s["events"] == f"ipc://{os.path.realpath(strata.data)}/events.sock"

    libs = s["libraries"]
    for lib in ("nng", "msgpack", "jansson", "zstd", "lz4"):
        assert isinstance(libs.get(lib), str) and re.match(r"^\d+\.\d+", libs[lib]), \
            f"libraries.{lib}: {libs.get(lib)!r}"
    # Where pkg-config knows the library, the reported version is the installed one.
    for lib, pkg in (("jansson", "jansson"), ("zstd", "libzstd"), ("lz4", "liblz4")):
        want = _pkg_version(pkg)
        if want:
            assert libs[lib] == want, f"libraries.{lib} {libs[lib]} but pkg-config says {want}"

    # The same stratad the same run: the epoch stays, uptime grows.
    s2 = strata.status()
    assert s2["epoch"] == s["epoch"] and s2["pid"] == s["pid"]
    assert s2["uptime_s"] >= s["uptime_s"]

    # The pool the events describe is the one stratad was started with.
    async def pool_stats():
        async with ws_open(strata.ws_url("/api/v1/ws/storage/buffer-pool")) as ws:
            return await WsReader(ws).first(
                lambda m: is_event(m, "buffer_pool_event", "PoolStats"), what="PoolStats")

    ev = asyncio.run(pool_stats())
    assert ev["data"]["PoolStats"]["total_pages"] == FRAMES, ev
    assert ev["epoch"] == s["epoch"], ev


def test_status_head_has_no_body(cluster):
    r = cluster.request("HEAD", "/api/v1/storage/status")
    assert r.status == 200
    assert r.body is None


def test_healthz_and_readyz(cluster):
    r = cluster.get("/healthz")
    assert r.status == 200 and r.body["status"] == "ok", r
    r = cluster.get("/readyz")
    assert r.status == 200 and r.body["status"] == "ready", r
    # One trailing slash is tolerated.
    assert cluster.get("/healthz/").status == 200
