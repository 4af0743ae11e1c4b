"""
Columnar tables and JSON collections in tablespaces (issue 7), through the
real processes: created with "tablespace" they keep their files in
TSDIR/columnar/NAME and TSDIR/json/NAME (DATA/columnar/NAME and
DATA/json/NAME are links to them); batch inserts and document puts are
refused with 507 quota_exceeded past the quota; the tablespace cannot be
dropped (409) while it holds them; everything survives a restart; dropping
them frees the space and the tablespace.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from strata_harness import assert_json_error
from lsm_helpers import restart_stratad, sigterm_stratad

TS = "/api/v1/storage/tablespaces"
COL = "/api/v1/storage/columnar"
COLL = "/api/v1/storage/json/collections"

COLUMNS = [{"name": "id", "type": "int64", "nullable": False},
           {"name": "note", "type": "string"}]


def ok(r, status=200):
    assert r.status == status, r
    return r.body


def rows(start, n, width=200):
    # distinct, poorly compressible strings so the files really grow
    return [{"id": i, "note": f"{i:08d}-" + os.urandom(width // 2).hex()} for i in range(start, start + n)]


def wait_used(env, ts_id, pred, what):
    deadline = time.time() + 10
    while True:
        info = ok(env.get(f"{TS}/{ts_id}"))
        if pred(info["used_bytes"]):
            return info
        assert time.time() < deadline, f"{what}: {info}"
        time.sleep(0.1)


def in_tablespace(env, kind, name, ts):
    link = env.data / kind / name
    assert link.is_symlink(), f"{link} is not a link into the tablespace"
    target = Path(os.readlink(link))
    assert target == Path(ts["location"]) / kind / name and target.is_dir(), (link, target, ts)
    return target


def test_columnar_and_collection_in_tablespace(cluster):
    env = cluster
    ts = ok(env.request("POST", TS, {"name": "small", "quota_bytes": 512 * 1024}), 201)

    # create: in the tablespace, or a clear error
    t = ok(env.request("POST", COL, {"name": "cq", "columns": COLUMNS, "tablespace": "small"}), 201)
    assert t["tablespace"] == "small", t
    c = ok(env.request("POST", COLL, {"name": "jq", "tablespace": "small"}), 201)
    assert c["tablespace"] == "small", c
    for path, body in ((COL, {"name": "cx", "columns": COLUMNS}), (COLL, {"name": "jx"})):
        err = assert_json_error(env.request("POST", path, {**body, "tablespace": "none-such"}), 404, "not_found")
        assert "none-such" in err["message"], err
        for bad in ("../x", "a/b", "", "a" * 64):
            assert_json_error(env.request("POST", path, {**body, "tablespace": bad}), 400, "bad_request")
        assert_json_error(env.request("POST", path, {**body, "tablespace": 5}), 400, "bad_request")
    # nothing was left behind by the refused creates
    assert not (env.data / "columnar" / "cx").exists() and not (env.data / "json" / "jx").exists()
    col_dir = in_tablespace(env, "columnar", "cq", ts)
    coll_dir = in_tablespace(env, "json", "jq", ts)
    assert (col_dir / "MANIFEST").is_file(), list(col_dir.iterdir())
    # an object at home is not in the tablespace
    home = ok(env.request("POST", COL, {"name": "home", "columns": COLUMNS}), 201)
    assert home["tablespace"] is None and not (env.data / "columnar" / "home").is_symlink(), home

    # columnar: 100-row batches (~22 KB plain) until the quota refuses one
    refused = None
    for i in range(60):
        r = env.request("POST", f"{COL}/cq/batch", {"rows": rows(i * 100, 100)})
        if r.status != 200:
            refused = (i, r)
            break
    assert refused, "512 KiB quota never enforced after 1.3 MB of columnar rows"
    batches, r = refused
    err = assert_json_error(r, 507, "quota_exceeded")
    assert "small" in err["message"] and "quota" in err["message"], err
    assert batches >= 2, f"refused after {batches} batches"
    info = ok(env.get(f"{COL}/cq"))
    assert info["rows"] == batches * 100, info  # the refused batch wrote nothing
    rg_files = [p for p in col_dir.iterdir() if p.name.startswith("rg-")]
    assert rg_files, list(col_dir.iterdir())

    # less than a batch is left: a larger document is refused too
    assert_json_error(env.request("PUT", f"{COLL}/jq/docs/big", {"v": "x" * 65536}), 507, "quota_exceeded")
    # room for documents: 256 KiB more than what is used now
    used = ok(env.get(f"{TS}/{ts['id']}"))["used_bytes"]
    ok(env.request("PUT", f"{TS}/{ts['id']}", {"quota_bytes": used + 256 * 1024}))
    refused = None
    for i in range(200):
        r = env.request("PUT", f"{COLL}/jq/docs/d{i:04d}", {"n": i, "pad": os.urandom(2048).hex()})
        if r.status != 200:
            refused = (i, r)
            break
    assert refused, "quota never enforced after 800 KB of documents"
    docs, r = refused
    err = assert_json_error(r, 507, "quota_exceeded")
    assert "small" in err["message"], err
    assert docs >= 4, f"refused after {docs} documents"
    assert ok(env.get(f"{COLL}/jq/docs/d0000"))["doc"]["n"] == 0
    assert any(coll_dir.iterdir())
    # an index build is refused while over the quota
    assert_json_error(env.request("POST", f"{COLL}/jq/indexes", {"path": "$.n"}), 507, "quota_exceeded")

    # usage measured from the files, objects listed
    info = ok(env.get(f"{TS}/{ts['id']}"))
    assert info["used_bytes"] >= 100 * 200 and sorted(info["objects"]) == ["columnar/cq", "json/jq"], info

    # not empty: 409 naming the objects
    err = assert_json_error(env.request("DELETE", f"{TS}/{ts['id']}"), 409, "conflict")
    assert "columnar/cq" in err["message"] and "json/jq" in err["message"], err

    # a rename is seen in the objects' answers (placement is the truth)
    ok(env.request("PUT", f"{TS}/{ts['id']}", {"name": "tiny"}))
    assert ok(env.get(f"{COL}/cq"))["tablespace"] == "tiny"
    assert ok(env.get(f"{COLL}/jq"))["tablespace"] == "tiny"
    lst = ok(env.get(COLL))["collections"]
    assert [x["tablespace"] for x in lst if x["name"] == "jq"] == ["tiny"], lst
    lst = ok(env.get(COL))["tables"]
    assert {x["name"]: x["tablespace"] for x in lst} == {"cq": "tiny", "home": None}, lst

    # restart: the data is still there, still in the tablespace, still limited
    sigterm_stratad(env)
    restart_stratad(env)
    assert ok(env.get(f"{COL}/cq"))["rows"] == batches * 100
    assert ok(env.get(f"{COL}/cq"))["tablespace"] == "tiny"
    assert ok(env.get(f"{COLL}/jq/docs/d{docs - 1:04d}"))["doc"]["n"] == docs - 1
    assert ok(env.get(f"{COLL}/jq"))["tablespace"] == "tiny"
    assert in_tablespace(env, "columnar", "cq", ts) == col_dir
    assert in_tablespace(env, "json", "jq", ts) == coll_dir
    # (a clean shutdown rewrote the collection's WAL: set a quota surely below the usage)
    ok(env.request("PUT", f"{TS}/{ts['id']}", {"quota_bytes": 1024}))
    assert_json_error(env.request("POST", f"{COL}/cq/batch", {"rows": rows(10**6, 100)}), 507, "quota_exceeded")
    assert_json_error(env.request("PUT", f"{COLL}/jq/docs/zz", {"pad": "x" * 8192}), 507, "quota_exceeded")
    assert_json_error(env.request("DELETE", f"{TS}/{ts['id']}"), 409, "conflict")

    # drop the objects: the space is freed, then the tablespace can go
    before = ok(env.get(f"{TS}/{ts['id']}"))["used_bytes"]
    ok(env.request("DELETE", f"{COL}/cq"))
    assert not (env.data / "columnar" / "cq").exists() and not col_dir.exists()
    wait_used(env, ts["id"], lambda u: u < before, "usage did not drop after the table's drop")
    err = assert_json_error(env.request("DELETE", f"{TS}/{ts['id']}"), 409, "conflict")
    assert "json/jq" in err["message"] and "columnar" not in err["message"], err
    ok(env.request("DELETE", f"{COLL}/jq"))
    assert not (env.data / "json" / "jq").exists() and not coll_dir.exists()
    wait_used(env, ts["id"], lambda u: u == 0, "usage is not 0 with no object left")
    ok(env.request("DELETE", f"{TS}/{ts['id']}"))
    assert not Path(ts["location"]).exists()
    # the home table was never affected
    assert ok(env.get(f"{COL}/home"))["tablespace"] is None


def test_crash_and_recreate_in_tablespace(cluster):
    """kill -9 after acknowledged writes: they are there after the restart;
    a dropped name can be created again, in another tablespace."""
    env = cluster
    a = ok(env.request("POST", TS, {"name": "ta"}), 201)
    b = ok(env.request("POST", TS, {"name": "tb"}), 201)
    ok(env.request("POST", COL, {"name": "k", "columns": COLUMNS, "tablespace": "ta"}), 201)
    ok(env.request("POST", COLL, {"name": "k", "tablespace": "ta"}), 201)
    ok(env.request("POST", f"{COL}/k/batch", {"rows": rows(0, 50)}))
    ok(env.request("PUT", f"{COLL}/k/docs/one", {"a": 1}))
    env.kill_stratad()
    env.wait_readyz(503)
    restart_stratad(env)
    assert ok(env.get(f"{COL}/k"))["rows"] == 50
    assert ok(env.get(f"{COLL}/k/docs/one"))["doc"] == {"a": 1}
    ok(env.request("DELETE", f"{COL}/k"))
    ok(env.request("DELETE", f"{COLL}/k"))
    t = ok(env.request("POST", COL, {"name": "k", "columns": COLUMNS, "tablespace": "tb"}), 201)
    c = ok(env.request("POST", COLL, {"name": "k", "tablespace": "tb"}), 201)
    assert t["tablespace"] == "tb" and c["tablespace"] == "tb" and t["rows"] == 0, (t, c)
    in_tablespace(env, "columnar", "k", b)
    in_tablespace(env, "json", "k", b)
    assert_json_error(env.get(f"{COLL}/k/docs/one"), 404, "not_found")
    ok(env.request("DELETE", f"{TS}/{a['id']}"))
    assert_json_error(env.request("DELETE", f"{TS}/{b['id']}"), 409, "conflict")
