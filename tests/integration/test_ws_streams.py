"""WebSocket event streams: /api/v1/ws/storage/<family> and /api/v1/ws/storage."""
import asyncio
import json

import pytest
import websockets

from strata_harness import (EVENT_TIMEOUT, WsReader, assert_fixture_shape, is_event,
                            is_notice, load_fixture, ws_connect, ws_open)

POOL_FIXTURE = load_fixture("buffer_pool_events.json", "PoolStats")
IO_FIXTURE = load_fixture("disk_io_events.json", "IoStats")


def is_pool_stats(m):
    return is_event(m, "buffer_pool_event", "PoolStats")


def is_io_stats(m):
    return is_event(m, "disk_io_event", "IoStats")


def test_buffer_pool_stream_pool_stats(cluster):
    epoch = cluster.status()["epoch"]

    async def main():
        async with ws_open(cluster.ws_url("/api/v1/ws/storage/buffer-pool")) as ws:
            r = WsReader(ws)
            first = await r.next()
            stats = await r.collect(is_pool_stats, 3, what="PoolStats")
            return first, stats, r.seen

    first, stats, seen = asyncio.run(main())

    # A connection notice, when there is one, is well-formed and says "up".
    if first["message_type"] == "connection":
        assert first["data"] == {"stratad": "up", "stream": "buffer-pool"}, first
    for m in stats:
        assert_fixture_shape(m, POOL_FIXTURE)
        ps = m["data"]["PoolStats"]
        assert 0.0 <= ps["hit_rate"] <= 1.0, m
        assert 0 <= ps["used_pages"] <= ps["total_pages"], m
        assert 0 <= ps["dirty_pages"] <= ps["total_pages"], m
        assert ps["total_pages"] == 1024, m  # stratad's default --frames
        assert m["epoch"] == epoch, f"event epoch {m['epoch']} != status epoch {epoch}"
    seqs = [m["seq"] for m in stats]
    assert all(a < b for a, b in zip(seqs, seqs[1:])), f"seq not strictly increasing: {seqs}"
    # Only buffer-pool events on this stream, and the topic's seq is
    # gap-free within an epoch (this stream sees every buffer-pool event).
    events = [m for m in seen if "seq" in m]
    assert all(m["message_type"] == "buffer_pool_event" for m in events), events
    all_seqs = [m["seq"] for m in events]
    assert all_seqs == list(range(all_seqs[0], all_seqs[0] + len(all_seqs))), \
        f"gap in buffer-pool seqs: {all_seqs}"


def test_two_clients_see_the_same_events(cluster):
    async def main():
        url = cluster.ws_url("/api/v1/ws/storage/buffer-pool")
        async with ws_open(url) as a, ws_open(url) as b:
            ra, rb = WsReader(a), WsReader(b)
            sa = await ra.collect(is_pool_stats, 4, what="PoolStats on client a")
            await rb.collect(lambda m: is_pool_stats(m) and m["seq"] >= sa[-1]["seq"], 1,
                             what="PoolStats on client b")
            return sa, rb.seen

    sa, seen_b = asyncio.run(main())
    by_seq_b = {m["seq"]: m for m in seen_b if is_pool_stats(m)}
    common = [m for m in sa if m["seq"] in by_seq_b]
    assert len(common) >= 2, (sa, seen_b)
    for m in common:
        assert by_seq_b[m["seq"]] == m, "two clients got different messages for one seq"


def test_io_stream_io_stats(cluster):
    epoch = cluster.status()["epoch"]

    async def main():
        async with ws_open(cluster.ws_url("/api/v1/ws/storage/io")) as ws:
            r = WsReader(ws)
            stats = await r.collect(is_io_stats, 2, what="IoStats")
            return stats, r.seen

    stats, seen = asyncio.run(main())
    for m in stats:
        assert_fixture_shape(m, IO_FIXTURE)
        assert m["epoch"] == epoch
        io = m["data"]["IoStats"]
        for k in ("reads_per_sec", "writes_per_sec", "read_throughput_mbps",
                  "write_throughput_mbps", "avg_read_latency_us", "avg_write_latency_us"):
            assert io[k] >= 0, m
    assert stats[0]["seq"] < stats[1]["seq"]
    others = [m for m in seen if "seq" in m and m["message_type"] != "disk_io_event"]
    assert not others, f"the io stream carried other families: {others}"


def test_all_stream_gets_both_families_and_subscribe_narrows_it(cluster):
    async def main():
        async with ws_open(cluster.ws_url("/api/v1/ws/storage")) as ws:
            r = WsReader(ws)
            await r.first(is_pool_stats, what="PoolStats on the all-families stream")
            await r.first(is_io_stats, what="IoStats on the all-families stream")

            await ws.send(json.dumps({"subscribe": ["io"]}))
            sub = await r.first(lambda m: is_notice(m, "subscribed"), what="'subscribed' notice")
            assert sub["data"]["families"] == ["io"], sub
            # Everything after the notice is io only: ~6 stats ticks.
            mark = len(r.seen)
            await r.collect(is_io_stats, 6, what="IoStats after subscribe")
            after = [m for m in r.seen[mark:] if "seq" in m]
            assert all(m["message_type"] == "disk_io_event" for m in after), \
                f"other families after subscribing to io: {after}"

            # And back to both.
            await ws.send(json.dumps({"subscribe": ["buffer-pool", "io"]}))
            sub = await r.first(lambda m: is_notice(m, "subscribed"), what="'subscribed' notice")
            assert sorted(sub["data"]["families"]) == ["buffer-pool", "io"], sub
            await r.first(is_pool_stats, what="PoolStats after re-subscribing")

    asyncio.run(main())


@pytest.mark.parametrize("control", [
    "nope",
    "[1,2]",
    json.dumps({"subscribe": ["bogus"]}),
    json.dumps({"subscribe": "io"}),
    json.dumps({"subscribe": [7]}),
    json.dumps({"unsubscribe": ["io"]}),
    json.dumps({"subscribe": ["io"], "pad": "x" * 5000}),  # over the 4096-byte limit
], ids=["not-json", "array", "unknown-family", "not-a-list", "not-a-string",
        "unknown-key", "oversized"])
def test_bad_control_message_gets_error_and_socket_stays_open(shared_cluster, control):
    async def main():
        async with ws_open(shared_cluster.ws_url("/api/v1/ws/storage")) as ws:
            r = WsReader(ws)
            await ws.send(control)
            err = await r.first(lambda m: m["message_type"] in ("error", "subscribed"),
                                what="error notice")
            assert err["message_type"] == "error", f"accepted a bad control message: {err}"
            assert err["data"]["code"] == "bad_request", err
            assert isinstance(err["data"]["message"], str) and err["data"]["message"], err
            # Still open, the filter unchanged: both families keep coming.
            await r.first(is_pool_stats, what="PoolStats after the bad message")
            await r.first(is_io_stats, what="IoStats after the bad message")
            # And a good control message still works.
            await ws.send(json.dumps({"subscribe": ["io"]}))
            sub = await r.first(lambda m: is_notice(m, "subscribed"), what="'subscribed'")
            assert sub["data"]["families"] == ["io"], sub

    asyncio.run(main())


@pytest.mark.parametrize("path", [
    "/api/v1/ws/storage/bogus",
    "/api/v1/ws/storagebogus",
    "/api/v1/ws/other",
    "/api/v1/storage/status",
])
def test_unknown_stream_path_is_refused(shared_cluster, path):
    async def main():
        with pytest.raises((websockets.exceptions.InvalidHandshake, ConnectionError)) as ei:
            ws = await ws_connect(shared_cluster.ws_url(path), timeout=EVENT_TIMEOUT)
            await ws.close()
        return ei.value

    e = asyncio.run(main())
    if isinstance(e, websockets.exceptions.InvalidStatusCode):
        assert 400 <= e.status_code < 500, e
    # The frontend survives it.
    assert shared_cluster.get("/healthz").status == 200
