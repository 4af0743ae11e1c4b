"""
LSM trees through the real processes (issue 4): the REST routes of
frontend/routes.c over daemon/ops_lsm.c and daemon/trees.c, durability of
core/lsm (kill -9 under sync "commit", clean restarts across memtable
flushes and compactions), checksummed SSTable blocks (a flipped byte is a
500 "corrupt", never wrong data), the lsm event stream with its ?tree=
filter (frontend/ws.c) against test_data/websocket/lsm_events.json, the
`strata lsm` / `strata load` CLI, and bad input.

Randomised tests print their seed; STRATA_TEST_SEED=N replays one.
"""
from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time

from strata_harness import (parse_raw_response, raw_http, SCALE, WsReader, assert_fixture_shape, assert_json_error, is_event,
                            is_int, load_fixture, ws_open)
from lsm_helpers import (API, b64d, b64e, batch, batch_put_all, compact, create,
                         create_ok, delete, flush, get, get_value, item_bytes, op_del, op_put,
                         put, put_ok, restart_stratad, scan_all, scan_page, sigterm_stratad,
                         sst_blocks, sst_files, stats, tree_dir)

FIXTURE_FILE = "lsm_events.json"


def _seed() -> int:
    s = os.environ.get("STRATA_TEST_SEED")
    seed = int(s) if s else random.SystemRandom().randrange(1 << 30)
    print(f"STRATA_TEST_SEED={seed}")
    return seed


def _assert_tree_equals(env, tree: str, model: dict[bytes, bytes], what: str) -> None:
    """A full scan of the tree gives exactly model, in ascending key order."""
    got = scan_all(env, tree)
    keys = [k for k, _ in got]
    assert keys == sorted(keys), f"{what}: scan is not in ascending key order"
    assert len(set(keys)) == len(keys), f"{what}: scan repeats keys"
    gd = dict(got)
    missing = sorted(set(model) - set(gd))
    extra = sorted(set(gd) - set(model))
    wrong = sorted(k for k in set(model) & set(gd) if model[k] != gd[k])
    assert not (missing or extra or wrong), (
        f"{what}: {len(missing)} keys missing (e.g. {missing[:5]}), {len(extra)} unexpected "
        f"(e.g. {extra[:5]}), {len(wrong)} with a wrong value (e.g. "
        f"{[(k, model[k][:40], gd[k][:40]) for k in wrong[:3]]})")


# --------------------------------------------------------------------------
# 1. REST CRUD


def test_rest_create_list_conflict_and_invalid_names(cluster):
    env = cluster
    body = create_ok(env, "crud", sync="commit", memtable_bytes=65536, compression=False,
                     bloom_bits_per_key=12)
    assert body["name"] == "crud", body
    opts = body["options"]
    assert opts["sync"] == "commit" and opts["memtable_bytes"] == 65536, opts
    assert opts["compression"] is False and opts["bloom_bits_per_key"] == 12, opts
    # Options not given are filled in with the defaults.
    assert is_int(opts.get("level_ratio")) and is_int(opts.get("l0_compaction_trigger")), opts

    assert_json_error(create(env, "crud"), 409, "conflict")
    assert_json_error(create(env, "crud", sync="none"), 409, "conflict")
    for bad in ("../x", "", "a" * 70, "a/b", "a.b", "sp ace", "..", "x\u00e9"):
        err = assert_json_error(create(env, bad), 400, "bad_request")
        assert "name" in err["message"], (bad, err)
    assert not (env.data / "lsm" / "x").exists() and not (env.data / "x").exists()
    longest = "L" * 63
    assert create_ok(env, longest)["name"] == longest
    assert_json_error(create(env, "a" * 64), 400, "bad_request")

    r = env.get(API)
    assert r.status == 200, r
    trees = {t["name"]: t for t in r.body["trees"]}
    assert set(trees) == {"crud", longest}, r.body
    assert trees["crud"]["options"] == opts, trees["crud"]
    assert is_int(trees["crud"]["total_files"]), trees["crud"]


def test_rest_put_get_delete_text_and_binary(cluster):
    env = cluster
    create_ok(env, "kv")

    r = put(env, "kv", "alpha", "one")
    assert r.status == 200 and r.body == {"key": "alpha"}, r
    r = get(env, "kv", "alpha")
    assert r.status == 200 and r.body == {"key": "alpha", "value": "one"}, r
    put_ok(env, "kv", "alpha", "two")                       # overwrite
    assert get_value(env, "kv", "alpha") == b"two"

    # UTF-8 text keys travel percent-encoded in the path; an empty value is a value.
    put_ok(env, "kv", "ключ key", "значение \u2713")
    r = get(env, "kv", "ключ key")
    assert r.status == 200 and r.body == {"key": "ключ key", "value": "значение \u2713"}, r
    put_ok(env, "kv", "empty", "")
    r = get(env, "kv", "empty")
    assert r.status == 200 and r.body == {"key": "empty", "value": ""}, r

    # Binary: key_b64/value_b64 in; a value that is not text comes back as value_b64.
    blob = bytes(range(256)) + b"\x00\xff"
    r = put(env, "kv", b"bin-key", blob)
    assert r.status == 200 and r.body == {"key": "bin-key"}, r
    r = get(env, "kv", "bin-key")
    assert r.status == 200 and r.body.get("key") == "bin-key" and "value" not in r.body, r
    assert b64d(r.body["value_b64"]) == blob
    r = get(env, "kv", "bin-key", encoding="base64")
    assert r.status == 200 and set(r.body) == {"key_b64", "value_b64"}, r
    assert b64d(r.body["key_b64"]) == b"bin-key" and b64d(r.body["value_b64"]) == blob
    r = get(env, "kv", "alpha", encoding="base64")
    assert r.status == 200 and r.body == {"key_b64": b64e(b"alpha"), "value_b64": b64e(b"two")}, r
    # Text with a NUL is not sent as a JSON string (daemon/ops_lsm.c utf8_text).
    put_ok(env, "kv", "nul", b"a\x00b")
    r = get(env, "kv", "nul")
    assert r.status == 200 and b64d(r.body["value_b64"]) == b"a\x00b", r

    assert_json_error(get(env, "kv", "missing"), 404, "not_found")
    assert_json_error(get(env, "nosuchtree", "alpha"), 404, "not_found")
    assert_json_error(put(env, "nosuchtree", "k", "v"), 404, "not_found")
    assert_json_error(delete(env, "nosuchtree", "alpha"), 404, "not_found")
    for method, path in (("GET", "scan"), ("GET", "stats"), ("POST", "flush"),
                         ("POST", "compact")):
        assert_json_error(env.request(method, f"{API}/nosuchtree/{path}"), 404, "not_found")
    assert_json_error(batch(env, "nosuchtree", [op_put("k", "v")]), 404, "not_found")

    r = delete(env, "kv", "alpha")
    assert r.status == 200 and r.body == {"deleted": True, "key": "alpha"}, r
    assert_json_error(get(env, "kv", "alpha"), 404, "not_found")
    assert_json_error(delete(env, "kv", "alpha"), 404, "not_found")
    assert_json_error(delete(env, "kv", "never-there"), 404, "not_found")
    # The other keys are untouched.
    assert get_value(env, "kv", "empty") == b""
    assert get_value(env, "kv", "bin-key") == blob


def test_rest_batch_is_applied_whole_and_later_ops_win(cluster):
    env = cluster
    create_ok(env, "bt")
    put_ok(env, "bt", "gone", "soon")
    r = batch(env, "bt", [op_put("b1", "x1"), op_put(b"b2", b"\x00\x01"), op_del("gone")])
    assert r.status == 200 and r.body == {"applied": 3}, r
    assert get_value(env, "bt", "b1") == b"x1"
    assert get_value(env, "bt", "b2") == b"\x00\x01"
    assert get_value(env, "bt", "gone") is None
    # Later ops on the same key win, inside one batch.
    r = batch(env, "bt", [op_put("k", "1"), op_put("k", "2"), op_put("d", "x"), op_del("d")])
    assert r.status == 200 and r.body == {"applied": 4}, r
    assert get_value(env, "bt", "k") == b"2"
    assert get_value(env, "bt", "d") is None
    # A batch with one bad op applies nothing (validated before any write).
    r = batch(env, "bt", [op_put("b1", "changed"), op_put("new", "v"), {"put": {"key": "x"}}])
    err = assert_json_error(r, 400, "bad_request")
    assert "ops[2]" in err["message"], err
    assert get_value(env, "bt", "b1") == b"x1"
    assert get_value(env, "bt", "new") is None


def test_rest_scan_bounds_limit_and_paging(cluster):
    env = cluster
    create_ok(env, "sc", memtable_bytes=8192)   # small: the keys span memtable and SSTables
    rng = random.Random(_seed())
    model = {f"s{i:03d}".encode(): f"value-{i}-{rng.randrange(10**9)}".encode() for i in range(150)}
    items = list(model.items())
    rng.shuffle(items)
    batch_put_all(env, "sc", dict(items), per_batch=40)
    assert flush(env, "sc").status == 200
    # Overwrites and deletes after the flush: the scan must merge them.
    for i in range(0, 150, 10):
        k = f"s{i:03d}".encode()
        model[k] = b"new-" + model[k]
        put_ok(env, "sc", k.decode(), model[k].decode())
    for i in range(5, 150, 25):
        k = f"s{i:03d}"
        assert delete(env, "sc", k).status == 200
        del model[k.encode()]

    want = sorted((k, v) for k, v in model.items() if b"s010" <= k < b"s140")
    got, start, pages = [], "s010", 0
    for _ in range(200):
        r = scan_page(env, "sc", start, "s140", 7)
        assert r.status == 200, r
        page = [(item_bytes(it, "key"), item_bytes(it, "value")) for it in r.body["items"]]
        assert len(page) <= 7, r.body
        got += page
        pages += 1
        if r.body["next"] is None:
            break
        assert len(page) == 7, f"a short page with a cursor: {r.body}"
        # "next" is the first key of the following page: no key skipped or repeated.
        nxt = r.body["next"]
        i = len(got)
        assert i < len(want) and want[i][0] == nxt.encode(), (nxt, want[i:i + 2])
        start = nxt
    else:
        raise AssertionError("scan paging did not end")
    assert got == want, f"paged scan differs: {len(got)} items vs {len(want)} expected"
    assert pages == -(-len(want) // 7), (pages, len(want))

    # end is exclusive; limit caps a page; an empty or inverted range is empty.
    r = scan_page(env, "sc", "s050", "s052")
    assert r.status == 200 and [it["key"] for it in r.body["items"]] == ["s050", "s051"], r
    assert r.body["next"] is None, r
    r = scan_page(env, "sc", "s100", None, 3)
    assert [it["key"] for it in r.body["items"]] == ["s100", "s101", "s102"], r
    assert r.body["next"] == "s103", r
    assert scan_page(env, "sc", "zzz").body == {"items": [], "next": None}
    assert scan_page(env, "sc", "s100", "s050").body["items"] == []
    # The whole tree, default bounds, several page sizes.
    for lim in (1000, 33):
        assert scan_all(env, "sc", limit=lim) == sorted(model.items())


def test_rest_drop_removes_the_tree_and_its_files(cluster):
    env = cluster
    create_ok(env, "dr", memtable_bytes=4096)
    batch_put_all(env, "dr", {f"k{i:04d}": "v" * 50 for i in range(300)})
    assert flush(env, "dr").status == 200
    assert sst_files(env, "dr"), "no SSTable after a flush"
    create_ok(env, "other")
    r = env.request("DELETE", f"{API}/dr")
    assert r.status == 200 and r.body == {"name": "dr", "dropped": True}, r
    assert_json_error(get(env, "dr", "k0001"), 404, "not_found")
    assert_json_error(env.get(f"{API}/dr/stats"), 404, "not_found")
    assert_json_error(env.request("DELETE", f"{API}/dr"), 404, "not_found")
    assert [t["name"] for t in env.get(API).body["trees"]] == ["other"]
    # Dropped means gone for good: not back after a restart, no files left.
    sigterm_stratad(env)
    restart_stratad(env)
    names = [t["name"] for t in env.get(API).body["trees"]]
    assert names == ["other"], \
        f"after a restart the trees are {names}: the dropped tree came back " \
        f"(its directory still holds {sorted(p.name for p in tree_dir(env, 'dr').glob('*'))})"
    assert not tree_dir(env, "dr").exists(), list(tree_dir(env, "dr").iterdir())
    assert_json_error(get(env, "dr", "k0001"), 404, "not_found")
    # The name is free again, and the new tree starts empty.
    create_ok(env, "dr")
    assert scan_page(env, "dr").body == {"items": [], "next": None}


# --------------------------------------------------------------------------
# 2. kill -9 under sync "commit": no acknowledged write is lost


class _Writer(threading.Thread):
    """Writes until told to stop; records every attempt and whether it was
    acknowledged (200). Kinds: unique single puts, 3-key batches, and
    overwrites of one hot key with an increasing counter."""

    def __init__(self, env, tree: str, cycle: int, wid: int, seed: int, stop: threading.Event,
                 hot_seq: list[int]):
        super().__init__(daemon=True)
        self.env, self.tree, self.cycle, self.wid = env, tree, cycle, wid
        self.rng = random.Random(seed)
        self.stop_ev = stop
        self.hot_seq = hot_seq            # [next counter] shared across cycles per writer
        self.puts: list[tuple[bytes, bytes, bool]] = []
        self.batches: list[tuple[list[tuple[bytes, bytes]], bool]] = []
        self.hot: list[tuple[int, bool]] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            for i in range(100000):
                if self.stop_ev.is_set():
                    return
                roll = self.rng.random()
                if roll < 0.75:
                    k = f"c{self.cycle}w{self.wid}p{i:05d}".encode()
                    v = f"{k.decode()}:{self.rng.randrange(10**12)}:".encode() \
                        + b"x" * self.rng.randrange(200)
                    ok = self._ok(lambda: put(self.env, self.tree, k.decode(), v.decode(),
                                              timeout=10 * SCALE))
                    self.puts.append((k, v, ok))
                elif roll < 0.9:
                    kvs = [(f"c{self.cycle}w{self.wid}b{i:05d}-{j}".encode(),
                            f"batch-{i}-{j}-{self.rng.randrange(10**9)}".encode())
                           for j in range(3)]
                    ok = self._ok(lambda: batch(self.env, self.tree,
                                                [op_put(k.decode(), v.decode()) for k, v in kvs],
                                                timeout=10 * SCALE))
                    self.batches.append((kvs, ok))
                else:
                    n = self.hot_seq[0]
                    self.hot_seq[0] += 1
                    ok = self._ok(lambda: put(self.env, self.tree, f"hot{self.wid}", f"{n:08d}",
                                              timeout=10 * SCALE))
                    self.hot.append((n, ok))
        except BaseException as e:  # reported by the test
            self.error = e

    @staticmethod
    def _ok(call) -> bool:
        try:
            r = call()
        except OSError:              # the connection broke: not acknowledged
            return False
        if r.status == 200:
            return True
        # Anything else must be a clean refusal while stratad is gone
        # (503 unavailable, or 504 when the request was in flight).
        assert r.status in (503, 504), f"unexpected answer during the crash test: {r}"
        return False


def test_kill9_under_sync_commit_loses_no_acknowledged_write(strata):
    env = strata.start()
    seed = _seed()
    rng = random.Random(seed)
    tree = "crash"
    create_ok(env, tree, sync="commit", memtable_bytes=16384, l0_compaction_trigger=2)

    cycles = 4
    nwriters = 3
    hot_seqs = [[0] for _ in range(nwriters)]
    # Everything acknowledged so far, and what may or may not be there.
    acked: dict[bytes, bytes] = {}
    maybe: dict[bytes, bytes] = {}
    acked_batches: list[list[tuple[bytes, bytes]]] = []
    maybe_batches: list[list[tuple[bytes, bytes]]] = []
    hot_attempts: list[list[tuple[int, bool]]] = [[] for _ in range(nwriters)]
    total_acked = 0
    flushes_before_kill = 0

    for cycle in range(cycles):
        stop = threading.Event()
        writers = [_Writer(env, tree, cycle, w, rng.randrange(1 << 30), stop, hot_seqs[w])
                   for w in range(nwriters)]
        for w in writers:
            w.start()
        # Let some writes through, then kill at a random moment while
        # writers are mid-request.
        t_end = time.monotonic() + 10 * SCALE
        while time.monotonic() < t_end and sum(
                sum(ok for *_, ok in w.puts) for w in writers) < 50:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.1, 1.0))
        flushes_before_kill += stats(env, tree)["memtable_flushes"]
        env.kill_stratad()
        stop.set()
        for w in writers:
            w.join(timeout=30 * SCALE)
            assert not w.is_alive(), "a writer did not stop"
            assert w.error is None, f"writer failed: {w.error!r}"
        cycle_acked = 0
        for w in writers:
            for k, v, ok in w.puts:
                (acked if ok else maybe)[k] = v
                cycle_acked += ok
            for kvs, ok in w.batches:
                (acked_batches if ok else maybe_batches).append(kvs)
                cycle_acked += ok
            hot_attempts[w.wid] += w.hot
        assert cycle_acked >= 50, f"cycle {cycle}: only {cycle_acked} writes acknowledged"
        total_acked += cycle_acked

        restart_stratad(env)
        got = dict(scan_all(env, tree))
        what = f"after kill -9 #{cycle + 1} (seed {seed})"
        lost = [k for k, v in acked.items() if got.get(k) != v]
        assert not lost, (f"{what}: {len(lost)} of {len(acked)} acknowledged puts lost or wrong, "
                          f"e.g. {[(k, got.get(k, b'<absent>')[:30]) for k in lost[:5]]}")
        wrong_maybe = [k for k, v in maybe.items() if k in got and got[k] != v]
        assert not wrong_maybe, f"{what}: unacknowledged puts with a foreign value: {wrong_maybe[:5]}"
        for kvs in acked_batches:
            bad = [k for k, v in kvs if got.get(k) != v]
            assert not bad, f"{what}: acknowledged batch lost keys {bad}"
        for kvs in maybe_batches:
            present = [got.get(k) == v for k, v in kvs]
            assert all(present) or not any(k in got for k, _ in kvs), \
                f"{what}: an unacknowledged batch is partly applied: {kvs} -> {present}"
        for wid, attempts in enumerate(hot_attempts):
            last_acked = max((n for n, ok in attempts if ok), default=None)
            v = got.get(f"hot{wid}".encode())
            if last_acked is None:
                continue
            assert v is not None, f"{what}: hot{wid} lost (last acknowledged {last_acked})"
            n = int(v)
            assert n >= last_acked and any(n == m for m, _ in attempts), \
                f"{what}: hot{wid} = {n}, last acknowledged {last_acked}"
        # Nothing was invented: every key is one a writer tried.
        known = set(acked) | set(maybe) \
            | {k for kvs in acked_batches + maybe_batches for k, _ in kvs} \
            | {f"hot{w}".encode() for w in range(nwriters)}
        assert set(got) <= known, f"{what}: unknown keys {sorted(set(got) - known)[:5]}"
        # A few point reads agree with the scan.
        for k in rng.sample(sorted(acked), min(20, len(acked))):
            assert get_value(env, tree, k.decode()) == acked[k], f"{what}: GET {k!r}"

    # Under "commit" an acknowledged write was fdatasync'ed.
    put_ok(env, tree, "last", "one")
    st = stats(env, tree)
    assert st["wal_syncs"] > 0, st
    # The kills hit a tree that was flushing memtables, not only a WAL.
    assert flushes_before_kill > 0, "no memtable flush happened during the crash cycles"
    print(f"crash test: {total_acked} acknowledged writes, {flushes_before_kill} memtable "
          f"flushes over {cycles} kill -9 cycles")


# --------------------------------------------------------------------------
# 3. persistence across clean restarts, with memtable flushes and compaction


def test_persistence_across_restarts_with_flushes_and_compaction(strata):
    env = strata.start()
    seed = _seed()
    rng = random.Random(seed)
    tree = "persist"
    create_ok(env, tree, memtable_bytes=16384, sync="none")
    model: dict[bytes, bytes] = {}
    kv = {}
    for i in range(3000):
        k = f"key-{i:06d}"
        v = f"v{i}-{rng.randrange(10**9)}-" + "p" * rng.randrange(30)
        kv[k] = v
        model[k.encode()] = v.encode()
    items = list(kv.items())
    rng.shuffle(items)
    batch_put_all(env, tree, dict(items), per_batch=250)
    # Overwrites and deletes land on keys that are already in SSTables.
    ops = []
    for i in rng.sample(range(3000), 300):
        k = f"key-{i:06d}"
        if i % 2:
            v = f"over-{i}"
            ops.append(op_put(k, v))
            model[k.encode()] = v.encode()
        else:
            ops.append(op_del(k))
            model.pop(k.encode(), None)
    assert batch(env, tree, ops).status == 200
    put_ok(env, tree, "key-999999", "in the memtable at shutdown")
    model[b"key-999999"] = b"in the memtable at shutdown"

    st = stats(env, tree)
    assert st["memtable_flushes"] > 0 and st["total_files"] > 0, st
    assert st["bytes_flushed"] > 0, st

    sigterm_stratad(env)
    restart_stratad(env)
    listed = {t["name"]: t for t in env.get(API).body["trees"]}
    assert listed[tree]["options"]["memtable_bytes"] == 16384, listed
    _assert_tree_equals(env, tree, model, f"after a clean restart (seed {seed})")
    for k in rng.sample(sorted(model), 100):
        assert get_value(env, tree, k.decode()) == model[k]
    gone = [f"key-{i:06d}" for i in range(3000) if f"key-{i:06d}".encode() not in model]
    assert gone
    for k in gone[:50]:
        assert get_value(env, tree, k) is None, f"deleted key {k} is back after the restart"
    assert stats(env, tree)["total_files"] >= 1

    pre = stats(env, tree)
    r = compact(env, tree, timeout=60 * SCALE)
    assert r.status == 200 and r.body["compacted"] is True, r
    post = r.body["stats"]
    assert post["compactions"] > pre["compactions"], (pre, post)
    assert post["bytes_compacted"] > pre["bytes_compacted"], (pre, post)
    # Everything now sits below L0.
    assert post["levels"][0]["files"] == 0, post["levels"]
    assert post["total_files"] >= 1, post
    _assert_tree_equals(env, tree, model, "after compaction")

    sigterm_stratad(env)
    restart_stratad(env)
    _assert_tree_equals(env, tree, model, "after compaction and another restart")
    for k in gone[:20]:
        assert get_value(env, tree, k) is None


# --------------------------------------------------------------------------
# 4. a flipped byte in an SSTable data block: corrupt, never wrong data


def test_flipped_byte_in_sstable_block_is_corrupt_not_wrong_data(strata):
    env = strata.start()
    tree = "damaged"
    create_ok(env, tree, compression=False)
    model = {f"k{i:05d}": f"value-{i:05d}-" + "abcdefgh" * 4 for i in range(2000)}
    batch_put_all(env, tree, model)
    r = compact(env, tree, timeout=60 * SCALE)
    assert r.status == 200, r
    sigterm_stratad(env)

    files = sst_files(env, tree)
    assert files, f"no SSTable in {tree_dir(env, tree)}"
    path = max(files, key=lambda p: p.stat().st_size)
    raw = bytearray(path.read_bytes())
    blocks = sst_blocks(bytes(raw))
    assert len(blocks) >= 3, f"only {len(blocks)} data blocks"
    bi = len(blocks) // 2
    blk = blocks[bi]
    lo = blocks[bi - 1].last_key
    pos = blk.off + (blk.stored - 5) // 2      # the middle of the block's payload
    assert pos < len(raw) - 64
    raw[pos] ^= 0x5A
    path.write_bytes(bytes(raw))
    damaged = sorted(k for k in model if lo < k.encode() <= blk.last_key)
    assert damaged, "no key in the damaged block"

    restart_stratad(env)
    wrong, corrupt, missing = [], [], []
    for k in sorted(model):
        r = get(env, tree, k)
        if r.status == 200:
            if r.body.get("value") != model[k]:
                wrong.append((k, r.body))
        elif r.status == 500:
            assert_json_error(r, 500, "corrupt")
            corrupt.append(k)
        else:
            missing.append((k, r.status, r.body))
    assert not wrong, f"wrong data from a damaged table: {wrong[:3]}"
    assert not missing, f"keys answered neither value nor corrupt: {missing[:3]}"
    assert corrupt, "no read reported the flipped byte"
    assert set(corrupt) == set(damaged), (
        f"corrupt answers should be exactly the {len(damaged)} keys of block {bi} "
        f"({damaged[0]}..{damaged[-1]}); got {len(corrupt)}: {corrupt[:3]}..")
    st = stats(env, tree)
    assert st["corruptions"] > 0, st
    # A scan over the block reports it too; one around it does not.
    assert_json_error(scan_page(env, tree, damaged[0], None, 10), 500, "corrupt")
    below = lo.decode()          # the last key of the block before: end bound, exclusive
    assert scan_all(env, tree, None, below) == \
        sorted((k.encode(), v.encode()) for k, v in model.items() if k < below)
    # A compaction must not rewrite the table without the damaged block.
    r = compact(env, tree, timeout=60 * SCALE)
    if r.status == 200:
        for k in damaged[:20]:
            g = get(env, tree, k)
            assert g.status != 404 and not (g.status == 200 and g.body.get("value") != model[k]), \
                f"compaction silently dropped or changed key {k} of a damaged block: {g}"
    else:
        assert_json_error(r, 500, "corrupt")
    for k in damaged[:5]:
        g = get(env, tree, k)
        assert g.status == 500 or (g.status == 200 and g.body["value"] == model[k]), g
    # stratad serves the rest of the tree and other trees.
    assert get_value(env, tree, sorted(model)[-1]) == model[sorted(model)[-1]].encode()
    create_ok(env, "healthy")
    put_ok(env, "healthy", "a", "b")
    assert get_value(env, "healthy", "a") == b"b"


def test_sstable_truncated_under_running_stratad_is_io_error_not_a_crash(strata):
    """An SSTable truncated while stratad has it open (mapped by default):
    touching the lost pages raises SIGBUS inside stratad, which the file
    layer's guarded copy (core/file.c) turns into STRATA_EIO → 500 io_error
    on that request; stratad stays up and serves everything else. A tree
    with "mmap_reads":false reads with pread and sees a short file: corrupt."""
    env = strata.start()
    model = {f"k{i:05d}": f"value-{i:05d}-" + "abcdefgh" * 4 for i in range(2000)}
    for tree, opts, code in (("trunc_map", {}, "io_error"),
                             ("trunc_pread", {"mmap_reads": False}, "corrupt")):
        create_ok(env, tree, compression=False, **opts)
        batch_put_all(env, tree, model)
        r = flush(env, tree)
        assert r.status == 200 and r.body["flushed"] is True, r
        files = sst_files(env, tree)
        assert files, f"no SSTable in {tree_dir(env, tree)}"
        for f in files:
            os.truncate(f, 0)
        for k in ("k00000", "k01000", "k01999", "k00000"):
            assert_json_error(get(env, tree, k), 500, code)
        assert_json_error(scan_page(env, tree, None, None, 10), 500, code)
        assert env.stratad.running(), f"stratad died reading a truncated SSTable of {tree}:\n" \
            f"{env.stratad.describe()}"
        # the rest goes on: writes to the tree, reads from its memtable, other trees
        put_ok(env, tree, "fresh", "v")
        assert get_value(env, tree, "fresh") == b"v"
        create_ok(env, f"{tree}_ok")
        put_ok(env, f"{tree}_ok", "a", "b")
        assert get_value(env, f"{tree}_ok", "a") == b"b"
    assert env.stratad.running()


# --------------------------------------------------------------------------
# 5. events: flush and compaction on the lsm stream, filtered by tree


def _lsm_ev(variant: str, tree: str | None = None):
    def p(m):
        if not is_event(m, "lsm_event", variant):
            return False
        return tree is None or m["data"][variant].get("tree_name") == tree
    return p


def test_lsm_events_flush_compaction_and_tree_filter(cluster):
    env = cluster
    fixtures = {v: load_fixture(FIXTURE_FILE, v) for v in
                ("MemtableFlushed", "CompactionStarted", "CompactionCompleted", "LevelMigration")}
    # Background compactions would race the manual one: trigger them late.
    create_ok(env, "evA", l0_compaction_trigger=16)
    create_ok(env, "evB", l0_compaction_trigger=16)

    async def main():
        async with ws_open(env.ws_url("/api/v1/ws/storage/lsm?tree=evA")) as wa, \
                ws_open(env.ws_url("/api/v1/ws/storage/lsm")) as wall:
            ra, rall = WsReader(wa), WsReader(wall)
            # The hello notice: the sessions are on the client lists.
            await ra.first(lambda m: m["message_type"] == "connection")
            await rall.first(lambda m: m["message_type"] == "connection")

            def fill_and_flush(tree: str, n: int, tag: str) -> None:
                r = batch(env, tree, [op_put(f"{tag}-{i:04d}", f"v{i}") for i in range(n)])
                assert r.status == 200, r
                r = flush(env, tree)
                assert r.status == 200 and r.body["flushed"] is True, r

            flushes = []
            for round_, n in enumerate((40, 25, 30)):
                await asyncio.to_thread(fill_and_flush, "evA", n, f"r{round_}")
                m = await ra.first(_lsm_ev("MemtableFlushed", "evA"), what="MemtableFlushed evA")
                f = m["data"]["MemtableFlushed"]
                assert f["entries"] == n and f["size_bytes"] > 0, m
                assert_fixture_shape(m, fixtures["MemtableFlushed"])
                flushes.append(m)
            assert [m["seq"] for m in flushes] == sorted(m["seq"] for m in flushes)
            await rall.collect(_lsm_ev("MemtableFlushed", "evA"), 3, what="evA flushes (all)")

            r = await asyncio.to_thread(compact, env, "evA")
            assert r.status == 200, r
            started = await ra.first(_lsm_ev("CompactionStarted", "evA"), what="CompactionStarted")
            done = await ra.first(_lsm_ev("CompactionCompleted", "evA"), what="CompactionCompleted")
            assert_fixture_shape(started, fixtures["CompactionStarted"])
            assert_fixture_shape(done, fixtures["CompactionCompleted"])
            assert started["seq"] < done["seq"], (started, done)
            s, c = started["data"]["CompactionStarted"], done["data"]["CompactionCompleted"]
            assert s["level"] == 0 and s["sstable_count"] == 3, s
            assert c["level"] == 0 and c["old_sstables"] == 3 and c["new_sstables"] >= 1, c
            assert is_int(c["duration_ms"]) and c["duration_ms"] >= 0, c

            # Another tree's flush reaches the unfiltered socket only. A
            # later evA flush is the marker: the stream is in seq order, so
            # an evB event sent to the filtered socket would arrive before it.
            await asyncio.to_thread(fill_and_flush, "evB", 12, "b")
            mb = await rall.first(_lsm_ev("MemtableFlushed", "evB"), what="MemtableFlushed evB")
            assert mb["data"]["MemtableFlushed"]["entries"] == 12, mb
            assert_fixture_shape(mb, fixtures["MemtableFlushed"])
            await asyncio.to_thread(fill_and_flush, "evA", 5, "marker")
            marker = await ra.first(_lsm_ev("MemtableFlushed", "evA"), what="marker flush")
            assert marker["seq"] > mb["seq"], (marker, mb)
            await rall.first(lambda m: m.get("seq") == marker["seq"], what="marker on the all socket")

            for m in ra.seen:
                if m["message_type"] == "connection":
                    continue
                assert m["message_type"] == "lsm_event", m
                (variant, fields), = m["data"].items()
                assert fields.get("tree_name") == "evA", f"the ?tree=evA socket got {m}"
                if variant in fixtures:
                    assert_fixture_shape(m, fixtures[variant])
            for m in rall.seen:
                if is_event(m, "lsm_event"):
                    (variant, fields), = m["data"].items()
                    assert fields.get("tree_name") in ("evA", "evB"), m
                    if variant in fixtures:
                        assert_fixture_shape(m, fixtures[variant])
            # The unfiltered socket saw the filtered one's events, same seqs.
            all_seqs = {m["seq"] for m in rall.seen if is_event(m, "lsm_event")}
            a_seqs = {m["seq"] for m in ra.seen if is_event(m, "lsm_event")}
            assert a_seqs <= all_seqs, sorted(a_seqs - all_seqs)

    asyncio.run(main())


# --------------------------------------------------------------------------
# 6. the CLI


def test_cli_lsm_commands_and_load(cluster):
    env = cluster

    def ok(*args):
        r = env.cli(*args)
        assert r.returncode == 0, f"strata {' '.join(args)}: exit {r.returncode}\n{r.stderr}"
        return r

    r = ok("lsm", "create", "clit", "commit")
    assert json.loads(r.stdout)["options"]["sync"] == "commit", r.stdout
    assert "clit" in [t["name"] for t in json.loads(ok("--json", "lsm", "list").stdout)["trees"]]
    r = env.cli("lsm", "create", "clit")
    assert r.returncode == 1 and "conflict" in r.stderr, (r.returncode, r.stderr)

    ok("lsm", "put", "clit", "k1", "hello world")
    r = ok("lsm", "get", "clit", "k1")
    assert json.loads(r.stdout) == {"key": "k1", "value": "hello world"}, r.stdout
    assert get_value(env, "clit", "k1") == b"hello world"     # the same tree over REST
    ok("lsm", "del", "clit", "k1")
    r = env.cli("lsm", "get", "clit", "k1")
    assert r.returncode == 1 and "not_found" in r.stderr, (r.returncode, r.stdout, r.stderr)
    r = env.cli("lsm", "del", "clit", "k1")
    assert r.returncode == 1 and "not_found" in r.stderr, (r.returncode, r.stderr)

    # strata load: KEY<TAB>VALUE lines (the value keeps later tabs), over
    # several 1000-op batches, then JSON lines; blank lines are skipped.
    tsv = env.root / "load.tsv"
    with open(tsv, "w") as f:
        for i in range(2500):
            f.write(f"t{i:05d}\tvalue {i}\twith a tab\n")
            if i == 1200:
                f.write("\n")
    r = ok("load", "clit", str(tsv))
    assert "loaded 2500 keys" in r.stdout, r.stdout
    jl = env.root / "load.jsonl"
    with open(jl, "w") as f:
        for i in range(1100):
            f.write(json.dumps({"key": f"j{i:05d}", "value": f"\u00fc {i} \"q\""}) + "\n")
    r = ok("load", "clit", str(jl))
    assert "loaded 1100 keys" in r.stdout, r.stdout
    assert get_value(env, "clit", "t00000") == b"value 0\twith a tab"
    assert get_value(env, "clit", "t02499") == b"value 2499\twith a tab"
    assert get_value(env, "clit", "j01099") == "\u00fc 1099 \"q\"".encode()
    r = env.cli("load", "nosuchtree", str(jl))
    assert r.returncode == 1 and "not_found" in r.stderr and "loaded" not in r.stdout, \
        (r.returncode, r.stdout, r.stderr)
    bad = env.root / "bad.txt"
    bad.write_text("a\tb\nno tab here\n")
    r = env.cli("load", "clit", str(bad))
    assert r.returncode != 0 and "line 2" in r.stderr, (r.returncode, r.stdout, r.stderr)

    r = ok("--json", "lsm", "scan", "clit", "t00010", "t00015")
    body = json.loads(r.stdout)
    assert [it["key"] for it in body["items"]] == [f"t{i:05d}" for i in range(10, 15)], body
    assert body["items"][0]["value"] == "value 10\twith a tab" and body["next"] is None, body
    r = ok("--json", "lsm", "scan", "clit", "j", "k", "3")
    body = json.loads(r.stdout)
    assert [it["key"] for it in body["items"]] == ["j00000", "j00001", "j00002"], body
    assert body["next"] == "j00003", body
    r = ok("--json", "lsm", "scan", "clit")
    assert len(json.loads(r.stdout)["items"]) == 100, r.stdout[:300]

    r = ok("--json", "lsm", "stats", "clit")
    st = json.loads(r.stdout)
    assert st["name"] == "clit" and st["options"]["sync"] == "commit", st
    assert st["stats"]["batches"] >= 5 and st["stats"]["puts"] >= 1, st["stats"]
    assert st["stats"]["deletes"] >= 1, st["stats"]
    ok("lsm", "flush", "clit")
    r = ok("--json", "lsm", "compact", "clit")
    assert json.loads(r.stdout)["compacted"] is True, r.stdout

    ok("lsm", "drop", "clit")
    r = env.cli("lsm", "get", "clit", "t00000")
    assert r.returncode == 1 and "not_found" in r.stderr, (r.returncode, r.stderr)
    assert_json_error(get(env, "clit", "t00000"), 404, "not_found")
    r = env.cli("lsm", "put", "clit")
    assert r.returncode == 2 and "usage" in r.stderr, (r.returncode, r.stderr)


# --------------------------------------------------------------------------
# 7. bad input


def test_bad_input_is_400_naming_the_field(cluster):
    env = cluster
    create_ok(env, "bad")
    put_ok(env, "bad", "keep", "me")

    for path, method in (("/bad/put", "PUT"), ("", "POST"), ("/bad/batch", "POST")):
        r = env.request(method, API + path, b"{not json",
                        headers={"Content-Type": "application/json"})
        assert_json_error(r, 400, "bad_request")
        r = env.request(method, API + path, "[1,2]")
        assert_json_error(r, 400, "bad_request")

    def bad(r, *words, status=400, code="bad_request"):
        err = assert_json_error(r, status, code)
        for w in words:
            assert w in err["message"], f"{w!r} not in {err['message']!r}"

    bad(env.request("PUT", f"{API}/bad/put", {"value": "v"}), "'key'")
    bad(env.request("PUT", f"{API}/bad/put", {"key": "k"}), "'value'")
    bad(env.request("PUT", f"{API}/bad/put", {"key": "k", "value_b64": "not base64!"}), "value_b64")
    bad(env.request("PUT", f"{API}/bad/put", {"key_b64": "@@@", "value": "v"}), "key_b64")
    bad(env.request("PUT", f"{API}/bad/put", {"key": "k", "key_b64": b64e(b"k"), "value": "v"}),
        "key")
    bad(env.request("PUT", f"{API}/bad/put", {"key": "", "value": "v"}), "'key'")
    bad(env.request("PUT", f"{API}/bad/put", {"key": 5, "value": "v"}), "'key'")
    bad(env.request("PUT", f"{API}/bad/put", {"key": "k", "value": "v", "sync": "yes"}), "sync")
    bad(env.request("PUT", f"{API}/bad/put", {"key": "k" * 65536, "value": "v"}), "'key'",
        status=413, code="too_large")

    bad(batch(env, "bad", [op_put("a", "1"), {"put": {"key": "b"}}]), "ops[1]")
    bad(batch(env, "bad", [op_put("a", "1"), op_put("b", "2"), {"upsert": {"key": "c"}}]), "ops[2]")
    both = {"put": {"key": "b", "value": "2"}, "delete": {"key": "b"}}
    bad(batch(env, "bad", [op_put("a", "1"), both]), "ops[1]")
    bad(batch(env, "bad", [op_del("keep"), 7]), "ops[1]")
    bad(batch(env, "bad", [op_put("a", "1"), {"delete": {"key_b64": "!!"}}]), "ops[1]")
    bad(batch(env, "bad", []), "ops")
    bad(batch(env, "bad", [op_put(f"m{i}", "v") for i in range(10001)]), "ops",
        status=413, code="too_large")
    bad(env.request("POST", f"{API}/bad/batch", {}), "ops")
    bad(env.request("POST", f"{API}/bad/batch", {"ops": {"put": {}}}), "ops")
    # None of the rejected batches wrote anything.
    assert get_value(env, "bad", "a") is None and get_value(env, "bad", "keep") == b"me"

    for lim in ("0", "5000", "-1", "abc", "1001"):
        bad(env.get(f"{API}/bad/scan?limit={lim}"), "limit")
    assert scan_page(env, "bad", limit=1000).status == 200
    bad(env.get(f"{API}/bad/get/keep?encoding=hex"), "encoding")
    bad(env.get(f"{API}/bad/scan?start_b64=%25%25"), "start_b64")

    bad(create(env, "x", bogus=1), "bogus")
    bad(create(env, "x", sync="sometimes"), "sync")
    bad(create(env, "x", sync=1), "sync")
    bad(create(env, "x", memtable_bytes=100), "memtable_bytes")
    bad(create(env, "x", memtable_bytes="16384"), "memtable_bytes")
    bad(create(env, "x", compression="no"), "compression")
    bad(env.request("POST", API, {"sync": "none"}), "name")
    bad(env.request("POST", API, {"name": 5}), "name")
    assert "x" not in [t["name"] for t in env.get(API).body["trees"]]
    assert not (env.data / "lsm" / "x").exists()

    for path in ("/bad.name/stats", "/a%2Eb/scan", "/" + "n" * 64 + "/stats"):
        bad(env.get(API + path), "name")
    bad(env.request("PUT", f"{API}/{'n' * 64}/put", {"key": "k", "value": "v"}), "name")
    bad(env.request("DELETE", f"{API}/bad.name"), "name")
    # The tree is fine after all of that.
    assert get_value(env, "bad", "keep") == b"me"


# --------------------------------------------------------------------------
# binary-safe keys end to end


def test_binary_keys_scan_and_batch_delete(cluster):
    """Keys that cannot be a path segment ('/', non-UTF-8) are reachable
    through scan (start_b64 / next_b64) and batch deletes."""
    env = cluster
    create_ok(env, "bink")
    keys = [b"a/b", b"\xff\x00k", b"\xfe", b"plain", b"sp ace", b"\x00"]
    for i, k in enumerate(keys):
        r = put(env, "bink", k, f"v{i}".encode() + b"\xc3")
        assert r.status == 200 and item_bytes(r.body, "key") == k, r
    want = sorted((k, f"v{i}".encode() + b"\xc3") for i, k in enumerate(keys))
    for lim in (1, 2, 1000):
        assert scan_all(env, "bink", limit=lim) == want, lim
        assert scan_all(env, "bink", limit=lim, encoding="base64") == want, lim
    r = scan_page(env, "bink", b"\xfe", None, 1)
    assert r.status == 200 and item_bytes(r.body["items"][0], "key") == b"\xfe", r
    r = batch(env, "bink", [op_del(b"\xff\x00k"), op_del("a/b")])
    assert r.status == 200, r
    assert [k for k, _ in scan_all(env, "bink")] == sorted(set(keys) - {b"\xff\x00k", b"a/b"})


def test_non_utf8_key_in_the_get_path(cluster):
    """GET/DELETE take the key from the path; a percent-encoded key that is
    not UTF-8 (%FF) must reach the tree like any other key, not be dropped
    on the way (frontend/routes.c pattern_match: json_string() refuses
    non-UTF-8, the parameter vanishes and the op answers "field 'key' is
    required" although the key was given)."""
    env = cluster
    create_ok(env, "pathkey")
    assert put(env, "pathkey", b"\xffk", "binary key").status == 200
    r = env.get(f"{API}/pathkey/get/%FFk")
    assert r.status == 200, f"GET of key b'\\xffk' by its percent-encoded path: {r}"
    assert item_bytes(r.body, "key") == b"\xffk" and item_bytes(r.body, "value") == b"binary key", r
    r = env.get(f"{API}/pathkey/get/%FEk")
    assert_json_error(r, 404, "not_found")
    r = env.request("DELETE", f"{API}/pathkey/delete/%FFk")
    assert r.status == 200, r
    assert scan_page(env, "pathkey").body["items"] == []


def test_scan_next_is_null_only_at_the_end(cluster):
    """DESIGN.md: scan answers {"items":[..],"next":"<key or null>"}; a
    client pages until next is null. When the continuation key is not text
    (or encoding=base64 was asked for), ops_lsm.c answers "next": null next
    to "next_b64" although more items follow, so such a client silently
    stops early."""
    env = cluster
    create_ok(env, "pager")
    for k in (b"a", b"b\xff", b"c", b"d"):
        assert put(env, "pager", k, "v").status == 200

    def documented_client(encoding=None):
        got, start = [], None
        for _ in range(20):
            r = scan_page(env, "pager", start, None, 1, encoding)
            assert r.status == 200, r
            got += [item_bytes(it, "key") for it in r.body["items"]]
            if r.body.get("next") is None and "next" in r.body:
                return got
            start = r.body.get("next") if "next" in r.body else b64d(r.body["next_b64"])
        raise AssertionError("no end")

    assert documented_client() == [b"a", b"b\xff", b"c", b"d"], \
        "a binary continuation key ended the scan: 'next' was null while items remained"
    assert documented_client("base64") == [b"a", b"b\xff", b"c", b"d"], \
        "with encoding=base64 'next' is null after the first page although items remain"


def test_oversized_put_is_too_large_not_unavailable(cluster):
    """Every body the frontend accepts (8 MiB) fits stratad's message limit
    (ipc/ipc.h IPC_DEFAULT_MAX_MSG, 16 MiB): a 5 MB value is stored, not a
    dropped connection answered 503; a body over the frontend's limit is
    413 too_large, and the tree keeps working."""
    env = cluster
    create_ok(env, "large")
    put_ok(env, "large", "small", "ok")
    big = "x" * (3 << 20)
    put_ok(env, "large", "three", big)
    assert get_value(env, "large", "three") == big.encode()
    five = "y" * 5_000_000
    put_ok(env, "large", "five", five)
    assert get_value(env, "large", "five") == five.encode()
    # Over the frontend's limit: answered 413 from the headers alone.
    req = (f"PUT /api/v1/storage/lsm/large/put HTTP/1.1\r\nHost: x\r\n"
           f"Content-Type: application/json\r\nContent-Length: {9 << 20}\r\n\r\n").encode()
    st, hdrs, body = parse_raw_response(raw_http(env.port, req))
    err = assert_json_error((st, hdrs, body), 413, "too_large")
    assert "stratad is unreachable" not in err["message"], err
    assert get_value(env, "large", "nine") is None
    assert get_value(env, "large", "small") == b"ok"


def test_tree_dir_without_options_does_not_stop_stratad(strata):
    """trees_create (daemon/trees.c) makes DATA/lsm/NAME, then writes
    OPTIONS.json.tmp and renames it: a crash in between leaves a directory
    without OPTIONS.json, and trees_open then refuses to start stratad at
    all ("cannot read .../OPTIONS.json"). The crash is simulated by making
    such a directory while stratad is stopped."""
    env = strata.start()
    create_ok(env, "good")
    put_ok(env, "good", "k", "v")
    sigterm_stratad(env)
    half = env.data / "lsm" / "halfmade"
    half.mkdir()
    (half / "OPTIONS.json.tmp").write_text('{"sync": "no')   # torn temporary file
    env.start_stratad()
    env.wait_readyz(200)
    assert get_value(env, "good", "k") == b"v"
    names = [t["name"] for t in env.get(API).body["trees"]]
    assert "good" in names, names
    # The half-made tree is either gone or usable, never a broken entry.
    if "halfmade" in names:
        put_ok(env, "halfmade", "a", "b")
    else:
        create_ok(env, "halfmade")


def test_pread_reads_option_gives_the_same_data(cluster):
    """"mmap_reads": false reads SSTables with pread; the data is the same
    either way, and a non-boolean is a 400."""
    env = cluster
    assert_json_error(create(env, "badmm", mmap_reads="no"), 400, "bad_request")
    for name, mm in (("mm_on", True), ("mm_off", False)):
        r = create(env, name, mmap_reads=mm)
        assert r.status == 201, r
        assert r.body["options"]["mmap_reads"] is mm, r.body
        for i in range(200):
            assert put(env, name, f"k{i:03d}", f"v{i}").status == 200
        assert env.request("POST", f"{API}/{name}/flush").status == 200
        for i in (0, 57, 199):
            g = get(env, name, f"k{i:03d}")
            assert g.status == 200 and g.body["value"] == f"v{i}", g
        sc = env.get(f"{API}/{name}/scan?start=k050&limit=3")
        assert [it["key"] for it in sc.body["items"]] == ["k050", "k051", "k052"], sc.body
