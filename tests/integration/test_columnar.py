"""
Columnar tables through the real processes (issue 6): REST create / batch /
column / project / aggregate / stats / info / drop over daemon/ops_columnar.c,
where clauses with zone-map skipping, the 400 naming row and column for a
type error (nothing half-inserted), persistence across a stratad restart
and kill -9, a flipped byte in a chunk file -> 500 corrupt, the columnar
WebSocket stream (BatchInserted, ColumnScanned, EncodingChanged against
test_data/websocket/columnar_events.json), and the `strata columnar` CLI.
"""
from __future__ import annotations

import asyncio
import json
import random
import urllib.parse

from strata_harness import (WsReader, assert_fixture_shape, assert_json_error, is_event,
                            load_fixture, ws_open)

API = "/api/v1/storage/columnar"
FIXTURES = "columnar_events.json"

COLUMNS = [
    {"name": "id", "type": "int64", "nullable": False},
    {"name": "status", "type": "string", "nullable": True},
    {"name": "price", "type": "float64", "nullable": True},
    {"name": "ts", "type": "timestamp", "nullable": True},
    {"name": "ok", "type": "bool", "nullable": True},
]


def q(**kw) -> str:
    return "?" + urllib.parse.urlencode(kw, quote_via=urllib.parse.quote)


def create(env, name="orders", columns=COLUMNS, **extra):
    return env.request("POST", API, {"name": name, "columns": columns, **extra})


def batch(env, name, body):
    return env.request("POST", f"{API}/{name}/batch", body)


def agg(env, name, **kw):
    r = env.get(f"{API}/{name}/aggregate" + q(**kw))
    assert r.status == 200, r
    return r.body


def make_rows(n, start=0, seed=1):
    rnd = random.Random(seed)
    rows = []
    for i in range(start, start + n):
        rows.append({
            "id": i,
            "status": rnd.choice(["paid", "open", "shipped", None]),
            "price": None if rnd.random() < 0.1 else round(rnd.uniform(0, 100), 2),
            "ts": 1700000000000000 + i * 1000,
            "ok": rnd.random() < 0.5,
        })
    return rows


def test_rest_round_trip_where_aggregate_stats(cluster):
    env = cluster
    assert env.request("POST", "/api/v1/storage/tablespaces", {"name": "fast"}).status == 201
    r = create(env, row_group_rows=1000, tablespace="fast")
    assert r.status == 201, r
    assert r.body["name"] == "orders" and r.body["tablespace"] == "fast", r.body
    assert_json_error(create(env), 409, "conflict")
    for bad in ("../x", "a/b", "", "a" * 70):
        assert_json_error(create(env, bad), 400, "bad_request")
    assert_json_error(create(env, "t2", [{"name": "x", "type": "decimal"}]), 400, "bad_request")

    rows = make_rows(3500)
    for k in range(0, 3500, 700):
        r = batch(env, "orders", {"rows": rows[k:k + 700]})
        assert r.status == 200 and r.body["rows"] == 700, r
    # column-wise form, RFC 3339 timestamps and NaN as a string
    r = batch(env, "orders", {"columns": {"id": [3500, 3501], "price": ["NaN", 1.5],
                                          "ts": ["2024-01-01T00:00:00Z", None]}})
    assert r.status == 200 and r.body["rows"] == 2, r
    rows += [{"id": 3500, "status": None, "price": float("nan"), "ts": 1704067200000000, "ok": None},
             {"id": 3501, "status": None, "price": 1.5, "ts": None, "ok": None}]

    info = env.get(f"{API}/orders").body
    assert info["rows"] == 3502 and info["row_groups"] == 4 and info["chunks"] == 20, info
    assert any(t["name"] == "orders" for t in env.get(API).body["tables"])

    def ref(pred):
        return [x for x in rows if pred(x)]

    # aggregates against a reference
    assert agg(env, "orders", fn="sum", col="id")["value"] == sum(x["id"] for x in rows)
    b = agg(env, "orders", fn="count", where="status=paid")
    assert b["value"] == len(ref(lambda x: x["status"] == "paid")), b
    prices = [x["price"] for x in rows if x["price"] is not None and x["price"] == x["price"]]
    b = agg(env, "orders", fn="min", col="price")
    assert b["value"] == min(prices), b
    assert agg(env, "orders", fn="max", col="price")["value"] == "NaN"  # NaN orders highest
    b = agg(env, "orders", fn="count", col="price", where="price < 10")
    assert b["value"] == len([p for p in prices if p < 10]), b
    b = agg(env, "orders", fn="sum", col="id", where="id between 1000 and 1999")
    assert b["value"] == sum(range(1000, 2000)), b
    assert b["chunks_skipped"] == 3 and b["rows_scanned"] == 1000, b
    b = agg(env, "orders", fn="count", where="id in (1,2,3,9999) and status is null")
    assert b["value"] == len(ref(lambda x: x["id"] in (1, 2, 3) and x["status"] is None)), b
    b = agg(env, "orders", fn="avg", col="ts", where="ts >= 2023-11-14T22:13:21Z")
    sel = [x["ts"] for x in rows if x["ts"] is not None and x["ts"] >= 1700000001000000]
    assert abs(b["value"] - sum(sel) / len(sel)) < 1, b
    assert_json_error(env.get(f"{API}/orders/aggregate" + q(fn="sum", col="status")), 400, "bad_request")
    assert_json_error(env.get(f"{API}/orders/aggregate" + q(fn="median", col="id")), 400, "bad_request")
    err = assert_json_error(env.get(f"{API}/orders/aggregate" + q(fn="count", where="nope=1")), 400,
                            "bad_request")
    assert "nope" in err["message"], err

    # column and project pages
    r = env.get(f"{API}/orders/column/id" + q(where="status=open", limit=50, offset=10))
    assert r.status == 200, r
    want = [x["id"] for x in rows if x["status"] == "open"]
    assert r.body["values"] == want[10:60] and r.body["next_offset"] == 60, r.body
    r = env.get(f"{API}/orders/project" + q(columns="id,status,ok", where="price > 95", limit=100000))
    assert r.status == 200 and r.body["next_offset"] is None, r
    want = [{"id": x["id"], "status": x["status"], "ok": x["ok"]} for x in rows
            if x["price"] is not None and (x["price"] != x["price"] or x["price"] > 95)]
    assert r.body["rows"] == want
    assert_json_error(env.get(f"{API}/orders/column/nope"), 404, "not_found")
    assert_json_error(env.get(f"{API}/nope/column/id"), 404, "not_found")

    # stats: zone maps, encodings, SIMD dispatch counters
    s = env.get(f"{API}/orders/stats/id").body
    assert s["rows"] == 3502 and s["min"] == 0 and s["max"] == 3501, s
    assert len(s["chunks"]) == 4 and s["encodings"] == {"DeltaBitPacked": 4}, s
    assert s["compression_ratio"] < 0.1, s
    assert s["simd"]["avx2_available"] is True and s["simd"]["avx2_calls"] > 0, s["simd"]
    s = env.get(f"{API}/orders/stats/status").body
    assert s["null_count"] == len(ref(lambda x: x["status"] is None)) and s["distinct_estimate"] == 3, s
    assert set(s["encodings"]) <= {"Dictionary", "RunLength", "Plain"}, s

    assert env.request("DELETE", f"{API}/orders").status == 200
    assert_json_error(env.get(f"{API}/orders"), 404, "not_found")
    assert not (env.data / "columnar" / "orders").exists()


def test_type_error_rejects_whole_batch(cluster):
    env = cluster
    assert create(env, "t").status == 201
    rows = make_rows(10)
    rows[7]["price"] = "cheap"
    err = assert_json_error(batch(env, "t", {"rows": rows}), 400, "bad_request")
    assert "row 7" in err["message"] and "price" in err["message"], err
    rows[7]["price"] = 1.0
    rows[3]["id"] = None
    err = assert_json_error(batch(env, "t", {"rows": rows}), 400, "bad_request")
    assert "row 3" in err["message"] and "'id'" in err["message"], err
    rows[3]["id"] = 3
    rows[5]["extra"] = 1
    err = assert_json_error(batch(env, "t", {"rows": rows}), 400, "bad_request")
    assert "row 5" in err["message"] and "extra" in err["message"], err
    err = assert_json_error(batch(env, "t", {"columns": {"id": [1, 2], "ok": [True, "yes"]}}), 400,
                            "bad_request")
    assert "row 1" in err["message"] and "'ok'" in err["message"], err
    assert_json_error(batch(env, "t", {"columns": {"id": [1, 2], "price": [1.0]}}), 400, "bad_request")
    assert_json_error(batch(env, "t", {}), 400, "bad_request")
    assert env.get(f"{API}/t").body["rows"] == 0
    assert batch(env, "t", {"rows": []}).body["rows"] == 0


def test_restart_kill9_and_corruption(cluster):
    env = cluster
    assert create(env, "p", row_group_rows=500).status == 201
    rows = make_rows(1600, seed=7)
    assert batch(env, "p", {"rows": rows[:1200]}).status == 200
    env.stop_stratad()
    env.start_stratad()
    env.wait_readyz(200)
    assert agg(env, "p", fn="sum", col="id")["value"] == sum(range(1200))
    assert batch(env, "p", {"rows": rows[1200:]}).status == 200  # acknowledged = durable
    env.kill_stratad()
    env.start_stratad()
    env.wait_readyz(200)
    assert agg(env, "p", fn="sum", col="id")["value"] == sum(range(1600))
    assert env.get(f"{API}/p").body["row_groups"] == 4

    env.stop_stratad()
    files = sorted((env.data / "columnar" / "p").glob("rg-*.dat"))
    assert len(files) == 4, files
    raw = bytearray(files[1].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    files[1].write_bytes(bytes(raw))
    env.start_stratad()
    env.wait_readyz(200)
    # whichever column holds the flipped byte reports corrupt, never data
    corrupt = 0
    for col in ("id", "status", "price", "ts", "ok"):
        r = env.get(f"{API}/p/column/{col}" + q(limit=100000))
        if r.status == 500:
            assert r.body["error"]["code"] == "corrupt", r
            corrupt += 1
        else:
            assert r.status == 200 and len(r.body["values"]) == 1600, r
    assert corrupt == 1
    # row groups that are intact still answer
    assert agg(env, "p", fn="count", col="status", where="id < 500")["count"] >= 0


def test_websocket_events(cluster):
    env = cluster
    assert create(env, "ev", row_group_rows=100).status == 201

    async def main():
        async with ws_open(env.ws_url("/api/v1/ws/storage/columnar")) as ws:
            rd = WsReader(ws)
            await asyncio.sleep(0.3)
            # a constant column then random values: the encoding changes
            body = {"columns": {"id": list(range(100)), "status": ["same"] * 100}}
            assert (await asyncio.to_thread(batch, env, "ev", body)).status == 200
            rnd = random.Random(3)
            body = {"columns": {"id": list(range(100, 200)),
                                "status": ["%08x" % rnd.getrandbits(32) for _ in range(100)]}}
            assert (await asyncio.to_thread(batch, env, "ev", body)).status == 200
            r = await asyncio.to_thread(env.get, f"{API}/ev/column/status" + q(limit=5))
            assert r.status == 200
            ins = await rd.first(lambda m: is_event(m, "columnar_event", "BatchInserted"))
            chg = await rd.first(lambda m: is_event(m, "columnar_event", "EncodingChanged")
                                 and m["data"]["EncodingChanged"]["column_name"] == "status")
            scan = await rd.first(lambda m: is_event(m, "columnar_event", "ColumnScanned"))
            return ins, chg, scan

    ins, chg, scan = asyncio.run(main())
    assert_fixture_shape(ins, load_fixture(FIXTURES, "BatchInserted"))
    assert_fixture_shape(chg, load_fixture(FIXTURES, "EncodingChanged"))
    assert_fixture_shape(scan, load_fixture(FIXTURES, "ColumnScanned"))
    b = ins["data"]["BatchInserted"]
    assert b["table_name"] == "ev" and b["rows"] == 100 and b["columns"] == 5, b
    c = chg["data"]["EncodingChanged"]
    # a constant column is Dictionary (one entry, 0-bit codes) or RunLength;
    # random 8-byte words are Plain
    assert c["old_encoding"] in ("Dictionary", "RunLength") and c["new_encoding"] == "Plain", c
    assert c["compression_ratio"] > 0, c
    s = scan["data"]["ColumnScanned"]
    assert s["table_name"] == "ev" and s["column_name"] == "status" and s["rows_scanned"] >= 5, s


def test_cli(cluster):
    env = cluster
    assert env.cli("tablespaces", "create", "t1").returncode == 0
    r = env.cli("columnar", "create", "c", "id:int64:notnull", "name:string", "--tablespace", "t1")
    assert r.returncode == 0, r.stderr
    body = json.dumps({"rows": [{"id": i, "name": "n%d" % (i % 3)} for i in range(50)]})
    r = env.cli("columnar", "insert", "c", body)
    assert r.returncode == 0 and json.loads(r.stdout)["rows"] == 50, r.stderr
    r = env.cli("--json", "columnar", "aggregate", "c", "sum", "id", "name = n1")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["value"] == sum(i for i in range(50) if i % 3 == 1)
    r = env.cli("--json", "columnar", "column", "c", "id", "id >= 45")
    assert json.loads(r.stdout)["values"] == [45, 46, 47, 48, 49], r.stdout
    r = env.cli("--json", "columnar", "project", "c", "id,name", "", "0", "2")
    assert json.loads(r.stdout)["rows"] == [{"id": 0, "name": "n0"}, {"id": 1, "name": "n1"}]
    r = env.cli("--json", "columnar", "stats", "c", "name")
    assert json.loads(r.stdout)["encodings"], r.stdout
    r = env.cli("--json", "columnar", "list")
    assert [t["name"] for t in json.loads(r.stdout)["tables"]] == ["c"]
    r = env.cli("columnar", "insert", "c", '{"rows":[{"id":"x"}]}')
    assert r.returncode != 0 and "row 0" in r.stderr, (r.stdout, r.stderr)
    assert env.cli("columnar", "drop", "c").returncode == 0
    assert env.cli("columnar", "bogus").returncode == 2
