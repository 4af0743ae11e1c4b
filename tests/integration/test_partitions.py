"""
Partitioned tables through the real processes (issue 7): REST routes of
frontend/routes_partitions.c over daemon/ops_partitions.c and
core/partition, conflicts (409), routing errors (400 / default partition),
dropping partitions (row counts), pruning, stable ids, tablespaces, and
everything surviving a stratad restart (SIGTERM and kill -9).
"""
from __future__ import annotations

import random

from strata_harness import assert_json_error
from lsm_helpers import restart_stratad, sigterm_stratad

PT = "/api/v1/storage/partitioned-tables"
PARTS = "/api/v1/storage/partitions"
TS = "/api/v1/storage/tablespaces"


def ok(r, status=200):
    assert r.status == status, r
    return r.body


def create_range(env, name="events", **extra):
    body = {"name": name, "key": "day", "strategy": "range",
            "partitions": [{"name": "p1", "from": 0, "to": 100},
                           {"name": "p2", "from": 100, "to": 200}], **extra}
    return ok(env.request("POST", PT, body), 201)


def query(env, table, where, **kw):
    return ok(env.request("POST", f"{PT}/{table}/query", {"where": where, **kw}))


def test_range_routing_pruning_and_restart(cluster):
    env = cluster
    info = create_range(env)
    assert info["name"] == "events" and info["strategy"] == "range", info
    ids = {p["name"]: p["id"] for p in info["partitions"]}
    assert len(set(ids.values())) == 2 and all(isinstance(i, int) for i in ids.values())

    rows = [{"day": d, "v": f"x{d}"} for d in range(0, 200, 7)]
    r = ok(env.request("POST", f"{PT}/events/rows", {"rows": rows}))
    want1 = sum(1 for x in rows if x["day"] < 100)
    assert r == {"inserted": len(rows), "by_partition": {"p1": want1, "p2": len(rows) - want1}}, r

    q = query(env, "events", {"day": {"lt": 50}})
    assert q["scanned"] == ["p1"] and q["pruned"] == ["p2"], q
    assert sorted(x["day"] for x in q["rows"]) == [d for d in range(0, 50, 7)], q
    q = query(env, "events", {"day": {"between": [90, 120]}, "v": {"ne": "x98"}})
    assert q["scanned"] == ["p1", "p2"], q
    assert sorted(x["day"] for x in q["rows"]) == [91, 105, 112, 119], q
    q = query(env, "events", {"day": {"in": [150, 154]}})
    assert q["scanned"] == ["p2"] and [x["day"] for x in q["rows"]] == [154], q

    assert ok(env.get(f"{PT}/events/partition-for?value=150")) == \
        {"partition": "p2", "id": ids["p2"], "default": False}
    assert_json_error(env.get(f"{PT}/events/partition-for?value=500"), 404, "not_found")

    # no partition and no default: 400 naming the row, nothing written
    err = assert_json_error(env.request("POST", f"{PT}/events/rows",
                                        {"rows": [{"day": 1}, {"day": 999}]}), 400, "bad_request")
    assert "rows[1]" in err["message"], err
    lst = ok(env.get(f"{PARTS}?table=events"))["partitions"]
    assert {p["name"]: p["rows"] for p in lst} == {"p1": want1, "p2": len(rows) - want1}, lst

    sigterm_stratad(env)
    restart_stratad(env)
    q = query(env, "events", {})
    assert sorted(x["day"] for x in q["rows"]) == sorted(x["day"] for x in rows)
    lst2 = ok(env.get(f"{PARTS}?table=events"))["partitions"]
    assert lst2 == lst

    # kill -9 after acknowledged inserts: they are there after the restart
    ok(env.request("POST", f"{PT}/events/rows", {"rows": [{"day": 3, "v": "after"}]}))
    env.kill_stratad()
    env.wait_readyz(503)
    restart_stratad(env)
    q = query(env, "events", {"v": "after"})
    assert [x["day"] for x in q["rows"]] == [3], q


def test_conflicts_defaults_and_drop(cluster):
    env = cluster
    create_range(env)
    # overlapping ranges: 409, at create and at add
    bad = {"name": "t2", "key": "k", "strategy": "range",
           "partitions": [{"name": "a", "from": 0, "to": 10}, {"name": "b", "from": 5, "to": 20}]}
    assert_json_error(env.request("POST", PT, bad), 409, "conflict")
    assert_json_error(env.get(f"{PT}/t2"), 404, "not_found")
    assert_json_error(env.request("POST", PARTS, {"table": "events", "name": "p3",
                                                  "definition": {"from": 150, "to": 300}}), 409, "conflict")
    assert_json_error(env.request("POST", PARTS, {"table": "events", "name": "p1",
                                                  "definition": {"from": 300, "to": 400}}), 409, "conflict")
    p3 = ok(env.request("POST", PARTS, {"table": "events", "name": "p3",
                                        "definition": {"from": 200, "to": 300}}), 201)
    assert p3["name"] == "p3" and p3["table"] == "events" and p3["rows"] == 0, p3

    # list: duplicate values 409
    ok(env.request("POST", PT, {"name": "regions", "key": "region", "strategy": "list",
                                "partitions": [{"name": "eu", "values": ["de", "fr"]},
                                               {"name": "us", "values": ["us"]}]}), 201)
    err = assert_json_error(env.request("POST", PARTS, {"table": "regions", "name": "x",
                                                        "definition": {"values": ["jp", "fr"]}}),
                            409, "conflict")
    assert "eu" in err["message"], err
    # a row with no partition: 400; with a default partition, routed there
    assert_json_error(env.request("POST", f"{PT}/regions/rows", {"rows": [{"region": "jp"}]}),
                      400, "bad_request")
    dflt = ok(env.request("POST", PARTS, {"table": "regions", "name": "other",
                                          "definition": {"default": True}}), 201)
    assert_json_error(env.request("POST", PARTS, {"table": "regions", "name": "other2",
                                                  "definition": {"default": True}}), 409, "conflict")
    r = ok(env.request("POST", f"{PT}/regions/rows",
                       {"rows": [{"region": "jp"}, {"region": "de"}, {"region": "de"}, {}]}))
    assert r["by_partition"] == {"other": 2, "eu": 2}, r
    # adding a partition whose values are in the default: 409
    assert_json_error(env.request("POST", PARTS, {"table": "regions", "name": "asia",
                                                  "definition": {"values": ["jp"]}}), 409, "conflict")
    q = query(env, "regions", {"region": "de"})
    assert q["scanned"] == ["eu"] and sorted(q["pruned"]) == ["other", "us"], q

    # drop partition: says how many rows; ids never reused
    d = ok(env.request("DELETE", f"{PARTS}/{dflt['id']}"))
    assert d["dropped_rows"] == 2 and d["table"] == "regions", d
    assert_json_error(env.request("DELETE", f"{PARTS}/{dflt['id']}"), 404, "not_found")
    again = ok(env.request("POST", PARTS, {"table": "regions", "name": "other",
                                           "definition": {"default": True}}), 201)
    assert again["id"] > dflt["id"] and again["rows"] == 0, again
    q = query(env, "regions", {})
    assert len(q["rows"]) == 2, q

    sigterm_stratad(env)
    restart_stratad(env)
    fresh = ok(env.request("POST", PARTS, {"table": "regions", "name": "asia",
                                           "definition": {"values": ["jp"]}}), 201)
    assert fresh["id"] > again["id"], (fresh, again)
    tables = ok(env.get(PT))["tables"]
    assert sorted(t["name"] for t in tables) == ["events", "regions"], tables
    d = ok(env.request("DELETE", f"{PT}/regions"))
    assert d["dropped_rows"] == 2, d
    assert_json_error(env.get(f"{PT}/regions"), 404, "not_found")


def test_bad_input(cluster):
    env = cluster
    for bad in ("../x", "", "a" * 70, "a/b", "..", "a.b"):
        assert_json_error(env.request("POST", PT, {"name": bad, "key": "k", "strategy": "range"}),
                          400, "bad_request")
    assert_json_error(env.request("POST", PT, {"name": "t", "key": "k", "strategy": "zigzag"}),
                      400, "bad_request")
    assert_json_error(env.request("POST", PT, {"name": "t", "strategy": "range"}), 400, "bad_request")
    assert_json_error(env.request("POST", PT, {"name": "t", "key": "k", "strategy": "hash",
                                               "partitions": [{"name": "h", "modulus": 0, "remainder": 0}]}),
                      400, "bad_request")
    assert_json_error(env.request("POST", PT, {"name": "t", "key": "k", "strategy": "range",
                                               "partitions": [{"name": "a/b", "from": 0, "to": 1}]}),
                      400, "bad_request")
    create_range(env)
    err = assert_json_error(env.request("POST", f"{PT}/events/query", {"where": {"day": {"like": 3}}}),
                            400, "bad_request")
    assert "like" in err["message"]
    assert_json_error(env.request("POST", f"{PT}/events/rows", {"rows": [{"day": True}]}), 400)
    assert_json_error(env.request("POST", f"{PT}/events/rows", {"rows": []}), 400)
    assert_json_error(env.request("POST", f"{PT}/nope/rows", {"rows": [{"day": 1}]}), 404)
    assert_json_error(env.request("DELETE", f"{PARTS}/999999"), 404, "not_found")
    assert not (env.data / "partitioned" / "x").exists()


def test_hash_list_composite_and_paging(cluster):
    env = cluster
    rng = random.Random(7)
    ok(env.request("POST", PT, {"name": "h", "key": "user", "strategy": "hash", "primary_key": "id",
                                "partitions": [{"name": f"h{i}", "modulus": 4, "remainder": i}
                                               for i in range(4)]}), 201)
    rows = [{"user": f"u{rng.randrange(50)}", "id": i} for i in range(300)]
    r = ok(env.request("POST", f"{PT}/h/rows", {"rows": rows}))
    assert r["inserted"] == 300 and sum(r["by_partition"].values()) == 300, r
    q = query(env, "h", {"user": "u7"})
    assert len(q["scanned"]) == 1 and len(q["pruned"]) == 3, q
    assert sorted(x["id"] for x in q["rows"]) == [x["id"] for x in rows if x["user"] == "u7"]
    pf = ok(env.get(f"{PT}/h/partition-for?value=u7"))
    assert pf["partition"] == q["scanned"][0], (pf, q)
    # primary key: the same (user, id) replaces the row
    ok(env.request("POST", f"{PT}/h/rows", {"rows": [dict(rows[0], extra=1)]}))
    info = ok(env.get(f"{PT}/h"))
    assert info["rows"] == 300, info
    # paging with limit/next
    seen, after = [], None
    for _ in range(20):
        body = {"where": {}, "limit": 70}
        if after:
            body["after"] = after
        page = ok(env.request("POST", f"{PT}/h/query", body))
        seen += [x["id"] for x in page["rows"]]
        after = page["next"]
        if not after:
            break
    assert sorted(seen) == list(range(300)), len(seen)

    # composite: range on day, then hash on user
    parts = [{"name": f"r{a}h{m}", "from": a * 100, "to": a * 100 + 100, "modulus": 2, "remainder": m}
             for a in range(2) for m in range(2)]
    ok(env.request("POST", PT, {"name": "c", "key": "day", "hash_key": "user", "strategy": "composite",
                                "partitions": parts}), 201)
    crows = [{"day": rng.randrange(200), "user": f"u{rng.randrange(20)}"} for _ in range(200)]
    ok(env.request("POST", f"{PT}/c/rows", {"rows": crows}))
    q = query(env, "c", {"day": {"lt": 100}, "user": "u3"})
    assert len(q["scanned"]) == 1 and q["scanned"][0].startswith("r0"), q
    assert len(q["rows"]) == sum(1 for x in crows if x["day"] < 100 and x["user"] == "u3"), q
    sigterm_stratad(env)
    restart_stratad(env)
    assert len(query(env, "c", {})["rows"]) == 200
    assert ok(env.get(f"{PT}/h"))["rows"] == 300


def test_partitioned_table_in_tablespace(cluster):
    env = cluster
    ts = ok(env.request("POST", TS, {"name": "ts1"}), 201)
    info = create_range(env, name="tsev", tablespace="ts1")
    assert info["tablespace"] == "ts1", info
    link = env.data / "partitioned" / "tsev"
    assert link.is_symlink() and (link / "TABLE.json").exists()
    ok(env.request("POST", f"{PT}/tsev/rows", {"rows": [{"day": 5}, {"day": 150}]}))
    assert_json_error(env.request("DELETE", f"{TS}/{ts['id']}"), 409, "conflict")
    assert_json_error(env.request("POST", PT, {"name": "x", "key": "k", "strategy": "range",
                                               "tablespace": "nope"}), 404, "not_found")
    sigterm_stratad(env)
    restart_stratad(env)
    assert len(query(env, "tsev", {})["rows"]) == 2
    assert ok(env.get(f"{PT}/tsev"))["tablespace"] == "ts1"
    ok(env.request("DELETE", f"{PT}/tsev"))
    assert not link.exists()
    ok(env.request("DELETE", f"{TS}/{ts['id']}"))


def test_cli(cluster):
    env = cluster
    r = env.cli("partitions", "create", '{"name":"cl","key":"k","strategy":"list",'
                '"partitions":[{"name":"a","values":[1,2]},{"name":"b","values":[3]}]}')
    assert r.returncode == 0, r.stderr
    r = env.cli("partitions", "insert", "cl", '[{"k":1},{"k":3},{"k":3}]')
    assert r.returncode == 0 and '"b": 2' in r.stdout, (r.stdout, r.stderr)
    r = env.cli("--json", "partitions", "query", "cl", '{"k":{"ge":2}}')
    assert r.returncode == 0 and '"scanned":["a","b"]' in r.stdout, r.stdout
    r = env.cli("partitions", "for", "cl", "3")
    assert r.returncode == 0 and '"b"' in r.stdout, r.stdout
    r = env.cli("partitions", "add", "cl", "c", '{"values":[3]}')
    assert r.returncode != 0 and "conflict" in (r.stdout + r.stderr).lower(), (r.stdout, r.stderr)
