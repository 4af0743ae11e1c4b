"""
Tiered storage through the real processes (issue 5): the REST routes of
frontend/routes_tiers.c over daemon/ops_tiers.c and core/tiered.

  - page contents identical across every migration path (and updates in
    each tier), tier names in any case, bad input
  - a skewed (zipfian) access workload: the most-accessed pages end in Hot,
    the pages never touched after loading end in Cold
  - the reported compression ratio equals the bytes of the records on disk
    (each record's header read back from its segment file)
  - kill -9 during migrations, several cycles: nothing lost, each page in
    exactly one tier
  - the tier event stream against test_data/websocket/tier_events.json
  - the policy: validated, persisted across a restart; the CLI

Randomised tests print their seed; STRATA_TEST_SEED=N replays one.
"""
from __future__ import annotations

import asyncio
import base64
import os
import random
import struct
import threading
import time
from pathlib import Path

from strata_harness import (SCALE, WsReader, assert_fixture_shape, assert_json_error, is_event,
                            load_fixture, wait_for, ws_open)

API = "/api/v1/storage/tiers"
TIERS = ("Hot", "Warm", "Cold")


def _seed() -> int:
    s = os.environ.get("STRATA_TEST_SEED")
    seed = int(s) if s else random.SystemRandom().randrange(1 << 30)
    print(f"STRATA_TEST_SEED={seed}")
    return seed


def page_bytes(n: int, v: int = 0, size: int = 3000) -> bytes:
    """Compressible, page-specific contents."""
    words = [b"alpha", b"beta", b"gamma", b"delta", b"tier", b"page", b"%d" % n, b"v%d" % v]
    rnd = random.Random(n * 1000 + v)
    out = bytearray()
    while len(out) < size:
        out += rnd.choice(words) + b" "
    return bytes(out[:size])


def store(env, data: bytes) -> int:
    r = env.request("POST", f"{API}/pages", {"data": base64.b64encode(data).decode()})
    assert r.status == 201, r
    assert r.body["tier"] == "Hot"
    return r.body["page_id"]


def read(env, pid: int) -> tuple[str, bytes]:
    r = env.get(f"{API}/page/{pid}?data=true")
    assert r.status == 200, r
    return r.body["tier"], base64.b64decode(r.body["data"])


def info(env, pid: int) -> dict:
    r = env.get(f"{API}/page/{pid}")
    assert r.status == 200, r
    return r.body


def migrate(env, pid: int, tier: str) -> dict:
    r = env.request("POST", f"{API}/migrate", {"page_id": pid, "to_tier": tier})
    assert r.status == 200, r
    return r.body


def settle(env, rounds: int = 40) -> None:
    """Runs planned migrations until nothing is pending (bounded)."""
    for _ in range(rounds):
        r = env.request("POST", f"{API}/migrate", {"max": 1000})
        assert r.status == 200, r
        assert r.body["errors"] == [], r.body
        if r.body["pending"] == 0 and not r.body["migrated"]:
            return
    raise AssertionError(f"migrations did not settle: {r.body}")


def manual(env) -> None:
    """No background migrations: the test places pages itself."""
    set_policy(env, auto_migrate=False)


def set_policy(env, **kw) -> dict:
    r = env.request("PUT", f"{API}/policy", kw)
    assert r.status == 200, r
    return r.body


# --------------------------------------------------------------------------


def test_contents_identical_across_every_migration_path(cluster):
    env = cluster
    manual(env)
    pages = {store(env, page_bytes(i)): page_bytes(i) for i in range(4)}
    # every ordered pair of tiers, names in any case
    path = ["warm", "COLD", "Hot", "cold", "WARM", "hot", "Warm", "Cold", "Warm"]
    for pid, want in pages.items():
        for step in path:
            body = migrate(env, pid, step)
            assert body["tier"] == step.capitalize()
            assert len(body["migrated"]) == 1 and body["migrated"][0]["to"] == step.capitalize(), body
            tier, got = read(env, pid)
            assert tier == step.capitalize()
            assert got == want, f"page {pid} differs after moving to {step}"
    # moving to where it is: nothing migrated
    pid = next(iter(pages))
    assert migrate(env, pid, "warm")["migrated"] == []
    # updates in each tier stay in that tier
    for pid, tier in zip(pages, TIERS):
        migrate(env, pid, tier)
        new = page_bytes(pid, 7, 1234)
        r = env.request("PUT", f"{API}/page/{pid}", {"data": base64.b64encode(new).decode()})
        assert r.status == 200 and r.body["tier"] == tier, r
        assert read(env, pid) == (tier, new)
        r = env.get(f"{API}/page/{pid}/data")
        assert base64.b64decode(r.body["data"]) == new
    # batch read
    r = env.request("POST", f"{API}/read", {"page_ids": list(pages)})
    assert r.status == 200 and [p["page_id"] for p in r.body["pages"]] == list(pages)
    # delete
    gone = list(pages)[-1]
    assert env.request("DELETE", f"{API}/page/{gone}").status == 200
    assert_json_error(env.get(f"{API}/page/{gone}"), 404, "not_found")


def test_bad_input(cluster):
    env = cluster
    manual(env)
    pid = store(env, b"x" * 100)
    assert_json_error(env.get(f"{API}/page/99999"), 404, "not_found")
    assert_json_error(env.request("POST", f"{API}/migrate", {"page_id": pid, "to_tier": "Lukewarm"}),
                      400, "bad_request")
    assert_json_error(env.request("POST", f"{API}/migrate", {"page_id": pid}), 400, "bad_request")
    assert_json_error(env.request("POST", f"{API}/migrate", {"max": 0}), 400, "bad_request")
    assert_json_error(env.request("POST", f"{API}/migrate", {"max": 5, "page_id": pid,
                                                             "to_tier": "Hot"}), 400, "bad_request")
    assert_json_error(env.request("POST", f"{API}/pages", {"data": "!!notbase64"}), 400, "bad_request")
    assert_json_error(env.request("POST", f"{API}/pages", {}), 400, "bad_request")
    big = base64.b64encode(b"z" * 5000).decode()
    assert_json_error(env.request("POST", f"{API}/pages", {"data": big}), 413, "too_large")
    assert_json_error(env.request("PUT", f"{API}/page/{pid}", {"data": big}), 413, "too_large")
    assert_json_error(env.request("POST", f"{API}/read", {"page_ids": []}), 400, "bad_request")
    assert_json_error(env.request("POST", f"{API}/read", {"page_ids": [pid, "x"]}), 400, "bad_request")
    # policy validation names the field
    for body, field in (({"hot_capacity": 0}, "hot"), ({"zstd_level": 40}, "zstd_level"),
                        ({"lz4_acceleration": 0}, "lz4_acceleration"),
                        ({"capacities": {"tepid": 3}}, "tepid"), ({"half_life_s": -1}, "half_life"),
                        ({"cold_threshold": 9, "hot_threshold": 1}, "cold_threshold"),
                        ({"bogus": 1}, "bogus"), ({"cold_dir": "/elsewhere"}, "cold_dir")):
        r = env.request("PUT", f"{API}/policy", body)
        assert_json_error(r, 400, "bad_request")
        assert field in r.body["error"]["message"], (body, r.body)
    assert read(env, pid) == ("Hot", b"x" * 100)


def test_zipfian_workload_places_pages_by_temperature(cluster):
    env = cluster
    rnd = random.Random(_seed())
    hot_cap, warm_cap, n_pages, n_accessed = 20, 60, 200, 100
    set_policy(env, capacities={"Hot": hot_cap, "warm": warm_cap})
    ids = [store(env, page_bytes(i, size=2000)) for i in range(n_pages)]
    accessed = ids[:n_accessed]
    untouched = ids[n_accessed:]
    # zipf(s=1.1) over the accessed pages, in a shuffled rank order
    ranked = accessed[:]
    rnd.shuffle(ranked)
    weights = [1.0 / (k + 1) ** 1.1 for k in range(len(ranked))]
    counts = {pid: 0 for pid in accessed}
    draws = rnd.choices(ranked, weights, k=6000)
    for i in range(0, len(draws), 500):
        batch = draws[i:i + 500]
        r = env.request("POST", f"{API}/read", {"page_ids": batch})
        assert r.status == 200, r
        for pid in batch:
            counts[pid] += 1
    # every page read back is right wherever it was served from
    for p in r.body["pages"]:
        assert base64.b64decode(p["data"]) == page_bytes(ids.index(p["page_id"]), size=2000)
    r = env.request("POST", f"{API}/maintenance", {})
    assert r.status == 200, r
    settle(env)
    top = sorted(accessed, key=lambda p: -counts[p])[:hot_cap]
    tiers = {pid: info(env, pid)["tier"] for pid in ids}
    in_hot = sum(tiers[p] == "Hot" for p in top)
    in_cold = sum(tiers[p] == "Cold" for p in untouched)
    stats = env.get(f"{API}/stats").body
    assert in_hot >= 0.9 * hot_cap, f"only {in_hot} of the {hot_cap} most-accessed pages in Hot: {stats}"
    assert in_cold >= 0.9 * len(untouched), \
        f"only {in_cold} of {len(untouched)} untouched pages in Cold: {stats}"
    assert stats["hot_pages"] <= hot_cap and stats["warm_pages"] <= warm_cap, stats
    assert stats["hot_pages"] + stats["warm_pages"] + stats["cold_pages"] == n_pages
    # the figures of GET /tiers agree
    t = env.get(API).body
    assert [x["name"] for x in t["tiers"]] == list(TIERS)
    assert t["tiers"][0]["capacity_pages"] == hot_cap and t["tiers"][0]["pages"] == stats["hot_pages"]
    assert t["thresholds"]["hot"] >= t["thresholds"]["cold"] >= 0
    # and every page is still intact after the moves
    for i, pid in enumerate(ids[::7]):
        assert read(env, pid)[1] == page_bytes(ids.index(pid), size=2000)


def _segment_files(env) -> list[Path]:
    t = env.get(API).body
    dirs = [Path(x["location"]) for x in t["tiers"][1:]]
    return [f for d in dirs for f in sorted(d.glob("*.seg"))]


def test_reported_compression_ratio_equals_bytes_on_disk(cluster):
    env = cluster
    manual(env)
    ids = [store(env, page_bytes(i, size=1000 + 37 * i)) for i in range(30)]
    # an incompressible page too (stored raw)
    ids.append(store(env, os.urandom(3000)))
    for k, pid in enumerate(ids):
        migrate(env, pid, ("warm", "cold")[k % 2])
    for pid in ids[:6]:  # some dead space from moves
        migrate(env, pid, "hot")
        migrate(env, pid, "cold")
    for pid in ids[:-1]:
        assert read(env, pid)[1] == page_bytes(ids.index(pid), size=1000 + 37 * ids.index(pid))
    stats = env.get(f"{API}/stats").body
    logical = stored = 0
    for pid in ids:
        inf = info(env, pid)
        assert inf["tier"] in ("Warm", "Cold")
        with open(inf["segment_path"], "rb") as f:
            f.seek(inf["offset"])
            hdr = f.read(32)
            magic, _crc, page_id, stored_len, logical_len, codec, tier = struct.unpack("<IIQIIBB", hdr[:26])
            payload = f.read(stored_len)
        assert magic == 0x52535453 and page_id == pid, inf
        assert len(payload) == stored_len and any(payload), inf
        assert 32 + stored_len == inf["stored_bytes"], inf
        assert logical_len == inf["length"]
        assert codec == {"lz4": 1, "zstd": 2, "none": 0}[inf["codec"]]
        assert tier == TIERS.index(inf["tier"])
        logical += logical_len
        stored += 32 + stored_len
    assert stats["tiers"]["Warm"]["stored_bytes"] + stats["tiers"]["Cold"]["stored_bytes"] == stored
    assert stats["tiers"]["Warm"]["logical_bytes"] + stats["tiers"]["Cold"]["logical_bytes"] == logical
    assert abs(stats["avg_compression_ratio"] - stored / logical) < 1e-9, (stats, stored, logical)
    assert stats["bytes_saved"] == logical - stored
    assert stats["avg_compression_ratio"] < 0.6
    # file sizes: the segments hold exactly the live records + dead space + headers
    files = _segment_files(env)
    on_disk = sum(f.stat().st_size for f in files)
    assert on_disk == stats["tiers"]["Warm"]["file_bytes"] + stats["tiers"]["Cold"]["file_bytes"]
    assert on_disk == stored + 32 * len(files) + stats["tiers"]["Warm"]["dead_bytes"] + \
        stats["tiers"]["Cold"]["dead_bytes"]
    # latency figures per tier
    for t in TIERS:
        lat = stats["tiers"][t]["read_latency_us"]
        assert lat["p50"] <= lat["p99"] <= lat["max"]
    assert stats["tiers"]["Cold"]["read_latency_us"]["reads"] > 0


def test_a_corrupt_segment_record_is_500_corrupt(cluster):
    env = cluster
    manual(env)
    pid = store(env, page_bytes(1))
    migrate(env, pid, "cold")
    inf = info(env, pid)
    with open(inf["segment_path"], "r+b") as f:
        f.seek(inf["offset"] + 40)
        b = f.read(1)
        f.seek(inf["offset"] + 40)
        f.write(bytes([b[0] ^ 0xff]))
    r = env.get(f"{API}/page/{pid}?data=true")
    assert_json_error(r, 500, "corrupt")
    assert "data" not in r.body
    assert_json_error(env.request("POST", f"{API}/migrate", {"page_id": pid, "to_tier": "hot"}),
                      500, "corrupt")
    assert env.get(f"{API}/stats").body["corrupt_reads"] >= 2


def test_kill9_during_migrations_loses_nothing(strata):
    env = strata.start()
    rnd = random.Random(_seed())
    n = 40
    want = {}
    for i in range(n):
        want[store(env, page_bytes(i, size=1500))] = page_bytes(i, size=1500)
    ids = list(want)
    set_policy(env, capacities={"Hot": 8, "Warm": 16})
    for cycle in range(4):
        stop = threading.Event()
        errors = []

        def mover():
            k = 0
            while not stop.is_set():
                k += 1
                try:
                    if k % 5 == 0:
                        env.request("POST", f"{API}/migrate", {"max": 10}, timeout=3)
                    else:
                        env.request("POST", f"{API}/migrate",
                                    {"page_id": rnd.choice(ids), "to_tier": rnd.choice(TIERS)},
                                    timeout=3)
                except OSError as e:  # stratad died under us: expected
                    errors.append(e)

        th = threading.Thread(target=mover)
        th.start()
        time.sleep(rnd.uniform(0.3, 0.8) * SCALE)
        env.kill_stratad()
        stop.set()
        th.join(20)
        env.start_stratad()
        env.wait_readyz(200)
        manual(env)  # hold still while we count
        hot_copies = set()
        per = {t: 0 for t in TIERS}
        for pid, data in want.items():
            tier, got = read(env, pid)
            assert got == data, f"cycle {cycle}: page {pid} differs after recovery"
            inf = info(env, pid)
            per[inf["tier"]] += 1
            if inf["tier"] == "Hot":
                assert inf["hot_page_id"] not in hot_copies, "two pages share one hot copy"
                hot_copies.add(inf["hot_page_id"])
        stats = env.get(f"{API}/stats").body
        assert sum(per.values()) == n
        assert [stats["hot_pages"], stats["warm_pages"], stats["cold_pages"]] == \
            [per[t] for t in TIERS], (stats, per)
        set_policy(env, auto_migrate=True)


def test_tier_events_match_the_fixtures(cluster):
    env = cluster
    manual(env)
    fx = {v: load_fixture("tier_events.json", v) for v in ("PageMigrated", "TierStats")}
    pid = store(env, page_bytes(3))

    async def run():
        async with ws_open(env.ws_url("/api/v1/ws/storage/tiers")) as ws:
            rd = WsReader(ws)
            stats = await rd.first(lambda m: is_event(m, "tier_event", "TierStats"),
                                   what="TierStats")
            assert_fixture_shape(stats, fx["TierStats"])
            await asyncio.to_thread(migrate, env, pid, "cold")
            mig = await rd.first(lambda m: is_event(m, "tier_event", "PageMigrated")
                                 and m["data"]["PageMigrated"]["page_id"] == pid,
                                 what="PageMigrated")
            assert_fixture_shape(mig, fx["PageMigrated"])
            d = mig["data"]["PageMigrated"]
            assert (d["from_tier"], d["to_tier"]) == ("Hot", "Cold")
            assert d["reason"]
            # the next stats see it
            s2 = await rd.first(lambda m: is_event(m, "tier_event", "TierStats")
                                and m["data"]["TierStats"]["cold_pages"] == 1, what="TierStats")
            assert s2["data"]["TierStats"]["total_migrations"] >= 1
            # maintenance that moves the thresholds: TierRebalanced
            await asyncio.to_thread(set_policy, env, hot_threshold=500.0, cold_threshold=400.0)
            r = await asyncio.to_thread(env.request, "POST", f"{API}/maintenance", {})
            assert r.status == 200 and r.body["thresholds_changed"], r
            reb = await rd.first(lambda m: is_event(m, "tier_event", "TierRebalanced"),
                                 what="TierRebalanced")
            f = reb["data"]["TierRebalanced"]
            assert f["hot_pages"] + f["warm_pages"] + f["cold_pages"] == 1

    asyncio.run(run())


def test_policy_persists_and_cli(cluster):
    env = cluster
    p = set_policy(env, capacities={"HOT": 7}, zstd_level=9, codec_levels={"lz4_acceleration": 4},
                   half_life_s=30, adaptive=False)
    assert p["capacities"]["Hot"] == 7 and p["zstd_level"] == 9 and p["lz4_acceleration"] == 4
    rc = env.stop_stratad()
    assert rc == 0
    env.start_stratad()
    env.wait_readyz(200)
    p2 = env.get(f"{API}/policy").body
    assert p2 == p
    out = env.cli("--json", "tiers", "policy", "hot_capacity=9")
    assert out.returncode == 0, out.stderr
    assert '"Hot": 9' in out.stdout or '"Hot":9' in out.stdout
    pid = store(env, page_bytes(5))
    out = env.cli("tiers", "migrate", str(pid), "cold")
    assert out.returncode == 0 and '"Cold"' in out.stdout, (out.stdout, out.stderr)
    out = env.cli("tiers", "page", str(pid))
    assert out.returncode == 0 and '"tier": "Cold"' in out.stdout, out.stdout
    out = env.cli("tiers", "stats")
    assert out.returncode == 0 and "avg_compression_ratio" in out.stdout
    out = env.cli("tiers", "migrate", "5")
    assert out.returncode == 0 and "migrated" in out.stdout
    out = env.cli("tiers", "migrate", str(pid), "tepid")
    assert out.returncode == 1 and "tepid" in out.stderr
    out = env.cli("tiers", "frobnicate")
    assert out.returncode == 2
