"""
The storage core through the real processes: pages and records over REST,
durability (clean restart, kill -9, torn data-page writes), checksums,
the page / buffer-pool / io event streams against their REST replies and
fixtures, bad input, vectored I/O, status figures and the CLI.

Durability contract under test (core/wal.h, core/pagestore.h): every page
change is logged as a full-page image; a change acknowledged with sync
survives kill -9; recovery writes every logged image back to DIR/data.db,
so a torn data-page write is repaired; a page that fails its checksum is
an error (500 corrupt + ChecksumFailure event), never data.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from strata_harness import (SCALE, WsReader, assert_json_error, is_int, ws_open)
from storage_helpers import (API, PAGE_HEADER, PAGE_SIZE, PageImage, alloc_page,
                             assert_events_match_fixtures, b64d, b64e, ev, expect_events,
                             get_record, insert, io_stats, overwrite_data_file, page_info,
                             read_data_page, read_records_parallel, restart_stratad,
                             sigterm_stratad, vectored_read)


def _seed() -> int:
    s = os.environ.get("STRATA_TEST_SEED")
    return int(s) if s else random.SystemRandom().randrange(1 << 30)


def _assert_records(env, expected: dict[tuple[int, int], bytes], what: str) -> None:
    got = read_records_parallel(env, expected)
    bad = []
    for k, want in expected.items():
        g = got[k]
        if g != want:
            bad.append((k, len(want), g if not isinstance(g, bytes) else f"{len(g)} bytes differing"))
    assert not bad, f"{what}: {len(bad)} of {len(expected)} records wrong, e.g. {bad[:5]}"


# --------------------------------------------------------------------------
# 1. persistence through a clean restart


def test_records_survive_a_clean_restart_byte_identical(strata):
    seed = _seed()
    rng = random.Random(seed)
    env = strata.start()
    expected: dict[tuple[int, int], bytes] = {}
    pages = [alloc_page(env) for _ in range(4)]
    specials = [b"", b"\x00", b"\x00" * 300, b"\xff" * 257, bytes(range(256)),
                b"\x00a\x00b\x00\r\n\"\\'"]
    for i, pid in enumerate(pages):
        for j in range(10):
            if i == 0 and j < len(specials):
                data = specials[j]
            else:
                data = rng.randbytes(rng.randrange(1, 300))
            slot = insert(env, pid, data, sync=(j % 2 == 0))
            assert (pid, slot) not in expected, f"slot {slot} of page {pid} handed out twice"
            expected[(pid, slot)] = data

    # Updates and deletes persist too.
    upd_key = (pages[1], 3)
    upd = rng.randbytes(123) + b"\x00"
    r = env.request("PUT", f"{API}/pages/{upd_key[0]}/records/{upd_key[1]}", {"data": b64e(upd)})
    assert r.status == 200, r
    expected[upd_key] = upd
    del_key = (pages[2], 4)
    r = env.request("DELETE", f"{API}/pages/{del_key[0]}/records/{del_key[1]}")
    assert r.status == 200, r
    del expected[del_key]

    _assert_records(env, expected, f"before the restart (seed {seed})")
    epoch = env.status()["epoch"]

    sigterm_stratad(env)
    restart_stratad(env)
    st = env.status()
    assert st["epoch"] != epoch, "status still shows the old stratad"
    assert st["recovery"]["pages_corrupt"] == 0, st["recovery"]

    _assert_records(env, expected, f"after a clean restart (seed {seed})")
    r = env.get(f"{API}/pages/{del_key[0]}/records/{del_key[1]}")
    assert_json_error(r, 404, "not_found")
    for pid in pages:
        info = page_info(env, pid)
        assert info["records"] == sum(1 for k in expected if k[0] == pid), info
        assert info["checksum_ok"] is True, f"page {pid} on disk after a clean stop: {info}"


# --------------------------------------------------------------------------
# 2. kill -9 during sync writes


class _Writer(threading.Thread):
    """Inserts sync records in a loop until told to stop or a request fails;
    records every acknowledged (201) record and page."""

    def __init__(self, env, rng: random.Random, stop: threading.Event, deadline: float):
        super().__init__(daemon=True)
        self.env, self.rng, self.stop, self.deadline = env, rng, stop, deadline
        self.acked: dict[tuple[int, int], bytes] = {}
        self.pages: list[int] = []
        self.ended_by: str | None = None

    def run(self):
        env = self.env
        try:
            page = None
            while not self.stop.is_set() and time.monotonic() < self.deadline:
                if page is None:
                    r = env.request("POST", f"{API}/pages", {"sync": True}, timeout=5)
                    if r.status != 201:
                        self.ended_by = f"alloc {r.status} {r.body}"
                        return
                    page = r.body["page_id"]
                    self.pages.append(page)
                data = self.rng.randbytes(self.rng.randrange(1, 400))
                r = env.request("POST", f"{API}/pages/{page}/records",
                                {"data": b64e(data), "sync": True}, timeout=5)
                if r.status == 201:
                    key = (page, r.body["slot"])
                    assert key not in self.acked, f"slot acknowledged twice: {key}"
                    self.acked[key] = data
                elif r.status == 409:
                    page = None  # full: next page
                else:
                    self.ended_by = f"insert {r.status} {r.body}"
                    return
            self.ended_by = "stopped"
        except Exception as e:  # connection errors once stratad is gone
            self.ended_by = f"{type(e).__name__}: {e}"


def test_acknowledged_sync_writes_survive_kill_9(strata):
    seed = _seed()
    rng = random.Random(seed)
    env = strata
    env.start_stratad()
    env.start_front()
    all_acked: dict[tuple[int, int], bytes] = {}
    all_pages: set[int] = set()
    cycles = 5
    for cycle in range(cycles):
        if cycle:
            restart_stratad(env)
            rec = env.status()["recovery"]
            assert rec["pages_corrupt"] == 0, f"cycle {cycle} (seed {seed}): {rec}"
            # Everything acknowledged in every earlier cycle is there.
            _assert_records(env, all_acked, f"after kill -9 #{cycle} (seed {seed})")
            for pid in sorted(all_pages):
                r = env.get(f"{API}/pages/{pid}")
                assert r.status == 200, f"acknowledged page {pid} lost (seed {seed}): {r}"

        stop = threading.Event()
        deadline = time.monotonic() + 20 * SCALE
        writers = [_Writer(env, random.Random(rng.random()), stop, deadline) for _ in range(2)]
        for w in writers:
            w.start()
        # Let at least one write be acknowledged, then crash at a random moment.
        t0 = time.monotonic()
        while not any(w.acked for w in writers):
            assert time.monotonic() - t0 < 10 * SCALE, \
                f"no write acknowledged within 10 s: {[w.ended_by for w in writers]}"
            assert any(w.is_alive() for w in writers), [w.ended_by for w in writers]
            time.sleep(0.005)
        time.sleep(rng.uniform(0.05, 0.5))
        env.kill_stratad()
        for w in writers:
            w.join(timeout=15 * SCALE)
            assert not w.is_alive(), "a writer is stuck after stratad was killed"
            # A writer must have been ended by the crash, not by a bug.
            assert w.ended_by != "stopped", w.ended_by
            all_acked.update(w.acked)
            all_pages.update(w.pages)

    restart_stratad(env)
    rec = env.status()["recovery"]
    assert rec["records_replayed"] > 0, rec
    assert rec["pages_corrupt"] == 0, rec
    _assert_records(env, all_acked, f"after the last kill -9 (seed {seed})")
    assert len(all_acked) >= cycles


def test_acknowledged_merge_and_delete_survive_kill_9(strata):
    """A merge acknowledged with sync frees page2 for good: after kill -9
    page2 is still gone and its records exist once, in page1. Likewise an
    acknowledged delete stays deleted."""
    env = strata.start()
    a, b = alloc_page(env), alloc_page(env)
    recs_a = {insert(env, a, b"A%d" % i): b"A%d" % i for i in range(3)}
    recs_b = [b"B0-moved", b"B1-moved"]
    for x in recs_b:
        insert(env, b, x)
    r = env.request("DELETE", f"{API}/pages/{a}/records/1", {"sync": True})
    assert r.status == 200, r
    del recs_a[1]
    r = env.request("POST", f"{API}/pages/merge", {"page1_id": a, "page2_id": b, "sync": True})
    assert r.status == 200 and r.body["freed_page_id"] == b and r.body["moved"] == 2, r
    assert_json_error(env.get(f"{API}/pages/{b}"), 404, "not_found")

    def page_a_records():
        info = page_info(env, a)
        img = PageImage(vectored_read(env, [a])[a])
        return info["records"], sorted(x for x in (img.record(i) for i in range(img.slot_count))
                                       if x is not None)

    before = page_a_records()
    assert before == (4, sorted(list(recs_a.values()) + recs_b)), before

    env.kill_stratad()
    restart_stratad(env)
    assert page_a_records() == before, "page1 changed across kill -9"
    for slot, data in recs_a.items():
        assert get_record(env, a, slot) == data
    assert_json_error(env.get(f"{API}/pages/{a}/records/1"), 404, "not_found")
    r = env.get(f"{API}/pages/{b}")
    assert r.status == 404, (
        f"page {b}, freed by an acknowledged merge, is back after kill -9 with "
        f"{r.body.get('records') if isinstance(r.body, dict) else r.body} records "
        f"(its records now exist twice): {r.status} {r.body}")


def test_concurrent_sync_inserts_into_one_page(cluster):
    """Eight clients insert into the same page at once (group commit):
    every acknowledged record gets its own slot and reads back intact."""
    env = cluster
    pid = alloc_page(env)

    def client(i):
        mine = []
        for j in range(20):
            data = f"c{i}r{j}".encode() + bytes([i, j, 0])
            r = env.request("POST", f"{API}/pages/{pid}/records", {"data": b64e(data), "sync": True})
            assert r.status == 201, r
            mine.append((r.body["slot"], data))
        return mine

    with ThreadPoolExecutor(max_workers=8) as ex:
        acked = [x for part in ex.map(client, range(8)) for x in part]
    slots = [s for s, _ in acked]
    assert len(set(slots)) == len(slots) == 160, "a slot was handed out twice"
    _assert_records(env, {(pid, s): d for s, d in acked}, "concurrent inserts")
    assert page_info(env, pid)["records"] == 160


# --------------------------------------------------------------------------
# 3. a torn data-page write is repaired from the log


def test_torn_data_page_is_repaired_from_the_redo_log(strata):
    env = strata.start()
    pid = alloc_page(env)
    other = alloc_page(env)
    rng = random.Random(_seed())
    expected = {}
    # Records fill the page from its end down past the middle, so the torn
    # half holds record bytes.
    for _ in range(6):
        data = rng.randbytes(500)
        expected[(pid, insert(env, pid, data, sync=True))] = data
    expected[(other, insert(env, other, b"bystander", sync=True))] = b"bystander"
    # An older version of the page reaches data.db; the newest lives only
    # in the log.
    r = env.request("POST", f"{API}/buffer-pool/flush", {})
    assert r.status == 200, r
    data = rng.randbytes(400)
    expected[(pid, insert(env, pid, data, sync=True))] = data
    env.kill_stratad()
    env.wait_readyz(503)

    garbage = bytes(rng.randrange(1, 256) for _ in range(2048))
    overwrite_data_file(env, pid * PAGE_SIZE + 2048, garbage)
    assert read_data_page(env, pid)[2048:] == garbage
    # And the log ends in a torn record (one that was never acknowledged):
    # replay stops there instead of applying garbage.
    segs = sorted((env.data / "wal").glob("*.log"))
    assert segs, f"no redo log segment in {env.data / 'wal'}"
    with open(segs[-1], "ab") as f:
        f.write(rng.randbytes(24 + PAGE_SIZE + 100))

    restart_stratad(env)
    rec = env.status()["recovery"]
    assert rec["records_replayed"] > 0, rec
    assert rec["pages_corrupt"] == 0, rec
    for (p, slot), want in expected.items():
        assert get_record(env, p, slot) == want, f"page {p} slot {slot} differs after recovery"
    info = page_info(env, pid)
    assert info["records"] == 7, info
    assert info["checksum_ok"] is True, f"data.db still holds the torn page: {info}"
    disk = PageImage(read_data_page(env, pid))
    assert disk.page_id == pid and disk.checksum_ok(), "recovery did not rewrite the torn page"


# --------------------------------------------------------------------------
# 4. a corrupt page is an error, never data


def test_corrupt_page_is_500_and_checksum_failure_event(strata):
    env = strata.start()
    pid = alloc_page(env)
    good = alloc_page(env)
    for i in range(3):
        insert(env, pid, f"record {i} ".encode() * 20)
    insert(env, good, b"still fine")
    sigterm_stratad(env)

    # After a clean stop data.db holds the page and the log is trimmed.
    img = PageImage(read_data_page(env, pid))
    assert img.page_id == pid and img.checksum_ok(), "data.db does not hold the page after SIGTERM"
    off = img.free_end + 10  # inside a record
    assert PAGE_HEADER < off < PAGE_SIZE
    overwrite_data_file(env, pid * PAGE_SIZE + off, bytes([img.raw[off] ^ 0x5A]))

    restart_stratad(env)

    async def main():
        async with ws_open(env.ws_url("/api/v1/ws/storage/pages")) as ws:
            reader = WsReader(ws)
            r = await asyncio.to_thread(env.get, f"{API}/pages/{pid}/records/0")
            got = await expect_events(reader, {
                "ChecksumFailure": ev("page_event", "ChecksumFailure",
                                      lambda f: f.get("page_id") == pid)})
            return r, got, reader.seen

    r, got, seen = asyncio.run(main())
    err = assert_json_error(r, 500, "corrupt")
    assert "data" not in r.body, f"a corrupt page returned data: {r.body}"
    f = got["ChecksumFailure"]["data"]["ChecksumFailure"]
    assert is_int(f["expected"]) and is_int(f["actual"]), f
    assert f["expected"] != f["actual"], f
    assert f["expected"] == img.checksum, f"expected should be the stored checksum: {f}"
    assert assert_events_match_fixtures(seen, "page_events.json", "page_event") >= 1
    assert str(pid) in err["message"], err

    # Still corrupt on a second read (no data ever), other pages fine,
    # and the failure is counted.
    assert_json_error(env.get(f"{API}/pages/{pid}/records/1"), 500, "corrupt")
    assert get_record(env, good, 0) == b"still fine"
    assert io_stats(env)["checksum_failures"] >= 1
    assert env.get("/healthz").status == 200


# --------------------------------------------------------------------------
# 5. events match the REST replies and the fixtures


def test_page_events_match_rest_replies(strata):
    env = strata.start("--sample-every", "1")

    async def main():
        async with ws_open(env.ws_url("/api/v1/ws/storage/pages")) as ws:
            reader = WsReader(ws)
            call = lambda *a: asyncio.to_thread(env.request, *a)  # noqa: E731

            r = await call("POST", f"{API}/pages", {})
            assert r.status == 201, r
            pid = r.body["page_id"]
            got = await expect_events(reader, {"alloc": ev(
                "page_event", "PageAllocated", lambda f: f["page_id"] == pid)})
            assert got["alloc"]["data"]["PageAllocated"]["size"] == PAGE_SIZE, got["alloc"]

            for i in range(4):
                r = await call("POST", f"{API}/pages/{pid}/records",
                               {"data": b64e(bytes([i]) * 200)})
                assert r.status == 201, r
            r = await call("DELETE", f"{API}/pages/{pid}/records/1")
            assert r.status == 200, r
            r = await call("POST", f"{API}/pages/{pid}/compact", {})
            assert r.status == 200, r
            reclaimed = r.body["bytes_reclaimed"]
            assert reclaimed >= 200, f"compacting after deleting a 200-byte record: {r.body}"
            got = await expect_events(reader, {"compact": ev(
                "page_event", "PageCompacted", lambda f: f["page_id"] == pid)})
            assert got["compact"]["data"]["PageCompacted"]["bytes_reclaimed"] == reclaimed, \
                (got["compact"], r.body)

            r = await call("POST", f"{API}/pages/split", {"page_id": pid})
            assert r.status == 200, r
            split = r.body
            assert split["original_page_id"] == pid and split["new_page_id"] != pid, split
            got = await expect_events(reader, {"split": ev(
                "page_event", "PageSplit", lambda f: f["original_page_id"] == pid)})
            f = got["split"]["data"]["PageSplit"]
            assert f["new_page_id"] == split["new_page_id"], (f, split)
            assert isinstance(f["reason"], str) and f["reason"], f

            new = split["new_page_id"]
            r = await call("POST", f"{API}/pages/merge", {"page1_id": pid, "page2_id": new})
            assert r.status == 200, r
            merge = r.body
            assert merge["result_page_id"] == pid and merge["freed_page_id"] == new, merge
            got = await expect_events(reader, {"merge": ev(
                "page_event", "PageMerged", lambda f: f["page2_id"] == new)})
            f = got["merge"]["data"]["PageMerged"]
            assert (f["page1_id"], f["page2_id"], f["result_page_id"]) == \
                (pid, new, merge["result_page_id"]), (f, merge)
            return reader.seen, pid

    seen, pid = asyncio.run(main())
    n = assert_events_match_fixtures(seen, "page_events.json", "page_event")
    assert n >= 4, f"only {n} fixture-shaped page events seen"
    info = page_info(env, pid)
    assert info["records"] == 3, info


def test_buffer_pool_events_hits_misses_pins_evictions_flushes(strata):
    frames = 16
    env = strata.start("--sample-every", "1", frames=frames)

    async def main():
        async with ws_open(env.ws_url("/api/v1/ws/storage/buffer-pool")) as ws:
            reader = WsReader(ws)
            call = lambda *a: asyncio.to_thread(env.request, *a)  # noqa: E731
            get = lambda p: asyncio.to_thread(env.get, p)  # noqa: E731
            pages = []
            for _ in range(40):
                r = await call("POST", f"{API}/pages", {})
                assert r.status == 201, r
                pages.append(r.body["page_id"])
            ours = set(pages)
            first = pages[:4]
            # The first pages were evicted by the later ones: a miss, then hits.
            for p in first:
                r = await get(f"{API}/pages/{p}")
                assert r.status == 200, r
            for p in first:
                r = await get(f"{API}/pages/{p}")
                assert r.status == 200, r
            in_ = lambda s: (lambda f: f.get("page_id") in s)  # noqa: E731
            got = await expect_events(reader, {
                "evicted": ev("buffer_pool_event", "PageEvicted", in_(ours)),
                "miss": ev("buffer_pool_event", "PageMiss", in_(set(first))),
                "hit": ev("buffer_pool_event", "PageHit", in_(set(first))),
                "pinned": ev("buffer_pool_event", "PagePinned", in_(ours)),
                "unpinned": ev("buffer_pool_event", "PageUnpinned", in_(ours)),
                # Stats catch up with the 40 - frames evictions at least.
                "stats": ev("buffer_pool_event", "PoolStats",
                            lambda f: f.get("evictions", 0) >= 40 - frames),
            })
            ps = got["stats"]["data"]["PoolStats"]
            assert ps["total_pages"] == frames, ps
            assert is_int(ps["evictions"]), ps
            reason = got["evicted"]["data"]["PageEvicted"]["reason"]
            assert isinstance(reason, str) and reason, got["evicted"]

            # A dirty page, then an explicit flush.
            target = first[0]
            r = await call("POST", f"{API}/pages/{target}/records", {"data": b64e(b"dirty")})
            assert r.status == 201, r
            r = await call("POST", f"{API}/buffer-pool/flush", {})
            assert r.status == 200 and is_int(r.body.get("flushed")), r
            got2 = await expect_events(reader, {
                "flushed": ev("buffer_pool_event", "PageFlushed",
                              lambda f: f.get("page_id") == target)})
            assert got2["flushed"]["data"]["PageFlushed"]["dirty_bytes"] == PAGE_SIZE, got2
            return reader.seen

    seen = asyncio.run(main())
    n = assert_events_match_fixtures(seen, "buffer_pool_events.json", "buffer_pool_event")
    assert n >= 5
    bp = env.get(f"{API}/buffer-pool").body
    assert bp["total_pages"] == frames and bp["evictions"] >= 40 - frames, bp


def test_io_events_vectored_and_single(strata):
    env = strata.start("--sample-every", "1")
    pages = [alloc_page(env) for _ in range(3)]
    for p in pages:
        insert(env, p, f"page {p}".encode())

    async def main():
        async with ws_open(env.ws_url("/api/v1/ws/storage/io")) as ws:
            reader = WsReader(ws)
            call = lambda *a: asyncio.to_thread(env.request, *a)  # noqa: E731
            r = await call("POST", f"{API}/buffer-pool/flush", {})
            assert r.status == 200, r
            r = await call("GET", f"{API}/pages/{pages[0]}")  # reads the on-disk copy
            assert r.status == 200, r
            r = await call("POST", f"{API}/io/vectored-read", {"page_ids": pages})
            assert r.status == 200, r
            img = r.body["pages"][1]
            # One dirty page alone: its flush is a single-page write.
            lone = pages[2]
            r = await call("POST", f"{API}/pages/{lone}/records", {"data": b64e(b"lone")})
            assert r.status == 201, r
            r = await call("POST", f"{API}/buffer-pool/flush", {})
            assert r.status == 200, r
            got = await expect_events(reader, {
                "vread": ev("disk_io_event", "VectoredRead",
                            lambda f: f["page_count"] == len(pages)),
                "read": ev("disk_io_event", "ReadCompleted",
                           lambda f: f["page_id"] == pages[0]),
                "write": ev("disk_io_event", "WriteCompleted",
                            lambda f: f["page_id"] == lone),
                "stats": ev("disk_io_event", "IoStats"),
            })
            assert got["write"]["data"]["WriteCompleted"]["bytes"] == PAGE_SIZE, got["write"]
            f = got["vread"]["data"]["VectoredRead"]
            assert f["total_bytes"] == len(pages) * PAGE_SIZE, f
            assert got["read"]["data"]["ReadCompleted"]["bytes"] == PAGE_SIZE, got["read"]

            r = await call("POST", f"{API}/io/vectored-write", {"pages": [img]})
            assert r.status == 200 and r.body == {"written": 1}, r
            got = await expect_events(reader, {
                "vwrite": ev("disk_io_event", "VectoredWrite",
                             lambda f: f["page_count"] == 1 and f["total_bytes"] == PAGE_SIZE)})
            return reader.seen

    seen = asyncio.run(main())
    vr = [m["data"]["VectoredRead"] for m in seen
          if ev("disk_io_event", "VectoredRead")(m)]
    assert vr and vr[0]["page_count"] == 3, f"the first VectoredRead is not the request's: {vr}"
    n = assert_events_match_fixtures(seen, "disk_io_events.json", "disk_io_event")
    assert n >= 5


# --------------------------------------------------------------------------
# 6. bad input: a 4xx JSON error, and the server keeps working


def test_bad_input_answers_4xx_and_the_server_keeps_working(cluster):
    env = cluster
    pid = alloc_page(env)
    insert(env, pid, b"first")
    P = f"{API}/pages"

    assert_json_error(env.get(f"{P}/999999"), 404, "not_found")
    assert_json_error(env.get(f"{P}/{pid}/records/5"), 404, "not_found")
    assert_json_error(env.get(f"{P}/abc"), 400, "bad_request")
    assert_json_error(env.get(f"{P}/999999/records/0"), 404, "not_found")

    big = b64e(b"x" * 5000)
    assert_json_error(env.request("POST", f"{P}/{pid}/records", {"data": big}), 413, "too_large")
    err = assert_json_error(env.request("POST", f"{P}/{pid}/records", {"data": "%%%not base64"}),
                            400, "bad_request")
    assert "data" in err["message"], err
    err = assert_json_error(env.request("POST", f"{P}/{pid}/records", {}), 400, "bad_request")
    assert "data" in err["message"], err
    assert_json_error(env.request("POST", f"{P}/{pid}/records", '{"data": "QUJD"'), 400,
                      "bad_request")
    assert_json_error(env.request("POST", f"{P}/{pid}/records", "[1,2]"), 400, "bad_request")

    # A full page: 409, and what it holds is untouched.
    full = alloc_page(env)
    kept = {}
    for i in range(10):
        data = bytes([i + 1]) * 1000
        r = env.request("POST", f"{P}/{full}/records", {"data": b64e(data)})
        if r.status == 409:
            break
        assert r.status == 201, r
        kept[r.body["slot"]] = data
    else:
        pytest.fail("ten 1000-byte records fit in one 4096-byte page")
    assert_json_error(r, 409, "conflict")
    assert len(kept) in (3, 4), kept.keys()
    for slot, data in kept.items():
        assert get_record(env, full, slot) == data

    # Vectored writes of images that are not that page.
    img = vectored_read(env, [pid])[pid]
    W = f"{API}/io/vectored-write"
    assert_json_error(env.request("POST", W, {"pages": [{"page_id": full, "data": b64e(img)}]}),
                      400, "bad_request")
    assert_json_error(env.request("POST", W, {"pages": [{"page_id": pid,
                                                          "data": b64e(os.urandom(PAGE_SIZE))}]}),
                      400, "bad_request")
    assert_json_error(env.request("POST", W, {"pages": [{"page_id": pid, "data": b64e(img[:100])}]}),
                      400, "bad_request")
    assert_json_error(env.request("POST", W, {"pages": []}), 400, "bad_request")
    assert get_record(env, full, 0) == kept[0], "a refused vectored-write changed the page"

    err = assert_json_error(env.request("POST", f"{P}/merge", {"page1_id": pid, "page2_id": pid}),
                            400, "bad_request")
    assert_json_error(env.request("POST", f"{P}/split", {"page_id": 999999}), 404, "not_found")
    assert_json_error(env.request("POST", f"{API}/io/vectored-read", {"page_ids": ["x"]}), 400,
                      "bad_request")

    # Still serving, and the first page is intact.
    assert env.get("/healthz").status == 200
    assert get_record(env, pid, 0) == b"first"
    p2 = alloc_page(env)
    assert get_record(env, p2, insert(env, p2, b"after the errors")) == b"after the errors"
    assert env.stratad.running()


def test_slot_beyond_the_page_is_not_found(cluster):
    """The issue: GET /pages/1/records/9999 -> 404 (a record that does not
    exist), as for any other missing slot."""
    pid = alloc_page(cluster)
    insert(cluster, pid, b"x")
    r = cluster.get(f"{API}/pages/{pid}/records/9999")
    assert_json_error(r, 404, "not_found")


# --------------------------------------------------------------------------
# 7. vectored read / write round trip


def test_vectored_read_write_round_trip(strata):
    env = strata.start()
    pages = [alloc_page(env) for _ in range(3)]
    recs = {p: f"payload of page {p}: ".encode() + bytes(range(40)) for p in pages}
    for p in pages:
        assert insert(env, p, recs[p]) == 0

    imgs = vectored_read(env, pages)
    for p, raw in imgs.items():
        assert len(raw) == PAGE_SIZE
        pi = PageImage(raw)
        assert pi.page_id == p, f"image of {p} says page {pi.page_id}"
        assert pi.checksum_ok(), f"image of page {p} carries a stale checksum"
        assert pi.record(0) == recs[p]

    # Unchanged image back: written, nothing changes.
    p0 = pages[0]
    r = env.request("POST", f"{API}/io/vectored-write",
                    {"pages": [{"page_id": p0, "data": b64e(imgs[p0])}]})
    assert r.status == 200 and r.body == {"written": 1}, r
    assert get_record(env, p0, 0) == recs[p0]

    # One record byte changed in another page's image (checksum redone).
    p1 = pages[1]
    pi = PageImage(imgs[p1])
    off, n = pi.slot(0)
    pi.raw[off + 3] ^= 0xFF
    pi.set_checksum()
    changed = bytearray(recs[p1])
    changed[3] ^= 0xFF
    r = env.request("POST", f"{API}/io/vectored-write",
                    {"pages": [{"page_id": p1, "data": b64e(pi.bytes())},
                               {"page_id": pages[2], "data": b64e(imgs[pages[2]])}]})
    assert r.status == 200 and r.body == {"written": 2}, r
    assert get_record(env, p1, 0) == bytes(changed)

    # An image whose page_id field is not the target: refused, nothing written.
    r = env.request("POST", f"{API}/io/vectored-write",
                    {"pages": [{"page_id": pages[2], "data": b64e(imgs[p0])}]})
    assert_json_error(r, 400, "bad_request")
    assert get_record(env, pages[2], 0) == recs[pages[2]]

    # include_data=false: the same reads, each page's id and lsn instead of its image.
    imgs = vectored_read(env, pages)
    r = env.request("POST", f"{API}/io/vectored-read", {"page_ids": pages, "include_data": False})
    assert r.status == 200, r
    assert r.body["pages"] == [{"page_id": p, "lsn": PageImage(imgs[p]).lsn} for p in pages], r
    assert any(x["lsn"] > 0 for x in r.body["pages"]), r  # logged changes, not a constant
    assert_json_error(env.request("POST", f"{API}/io/vectored-read",
                                  {"page_ids": pages, "include_data": "no"}), 400, "bad_request")
    assert_json_error(env.request("POST", f"{API}/io/vectored-read",
                                  {"page_ids": [p0, 999999], "include_data": False}), 404,
                      "not_found")

    # The vectored write went through the log: it survives kill -9.
    env.kill_stratad()
    restart_stratad(env)
    assert get_record(env, p1, 0) == bytes(changed)
    assert get_record(env, p0, 0) == recs[p0]


# --------------------------------------------------------------------------
# 8. status, io-stats, disks


def test_status_io_stats_and_disks(strata):
    frames = 64
    env = strata.start(frames=frames)
    st = env.status()
    assert st["frame_count"] == frames
    bp = st["buffer_pool"]
    assert bp["total_pages"] == frames, bp
    io0 = st["io"]
    for k in ("reads", "writes", "bytes_read", "bytes_written", "fsyncs"):
        assert is_int(io0[k]), (k, io0)

    pid = alloc_page(env)
    insert(env, pid, b"io" * 100, sync=True)
    assert env.request("POST", f"{API}/buffer-pool/flush", {}).status == 200
    page_info(env, pid)  # reads the on-disk copy
    io1 = env.status()["io"]
    assert io1["writes"] > io0["writes"], (io0, io1)
    assert io1["bytes_written"] > io0["bytes_written"], (io0, io1)
    assert io1["reads"] > io0["reads"], (io0, io1)
    assert io1["fsyncs"] > io0["fsyncs"], (io0, io1)
    assert env.status()["buffer_pool"]["used_pages"] >= 1

    s = io_stats(env)
    assert s["reads"] > 0 and is_int(s["wal"]["records"]) and s["wal"]["records"] >= 2, s
    r = env.request("POST", f"{API}/io-stats/reset", {})
    assert r.status == 200, r
    s = io_stats(env)
    assert s["reads"] == 0 and s["bytes_read"] == 0, f"after reset: {s}"
    page_info(env, pid)
    assert io_stats(env)["reads"] > 0

    r = env.get(f"{API}/disks")
    assert r.status == 200, r
    disks = r.body["disks"]
    assert isinstance(disks, list) and disks, r.body
    d = disks[0]
    assert os.path.realpath(d["path"]) == os.path.realpath(env.data), d
    assert is_int(d["total_bytes"]) and d["total_bytes"] > 0, d
    assert 0 <= d["free_bytes"] <= d["total_bytes"], d
    assert d["data_file"]["page_size"] == PAGE_SIZE and d["data_file"]["pages"] >= 2, d


# --------------------------------------------------------------------------
# 9. the CLI


def test_cli_page_commands_and_top(strata):
    env = strata
    env.start_stratad()

    def ok(*args):
        r = env.cli(*args)
        assert r.returncode == 0, f"strata {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
        return json.loads(r.stdout)

    pid = ok("page", "alloc")["page_id"]
    assert is_int(pid) and pid >= 1
    text = "hello, strata: ünïcode & spaces"
    put = ok("page", "put", str(pid), text)
    assert put["page_id"] == pid
    got = ok("page", "read", str(pid), str(put["slot"]))
    assert b64d(got["data"]) == text.encode(), got
    ok("flush")
    info = ok("page", "get", str(pid))
    assert info["page_id"] == pid and info["records"] == 1, info
    assert info["checksum_ok"] is True and info["dirty"] is False, f"after flush: {info}"

    r = env.cli("page", "get", "999999")
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "not_found" in r.stderr, r.stderr
    assert r.stdout == "", r.stdout

    r = env.cli("--count", "1", "--json", "top")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    top = json.loads(lines[0])
    assert top["used"] > 0, top
    assert top["pid"] == env.stratad.pid, top
