"""
Tablespaces through the real processes (issue 7): REST routes of
frontend/routes_tablespaces.c over daemon/ops_tablespaces.c and
core/tablespace; LSM trees created in a tablespace (a link DATA/lsm/NAME ->
TSDIR/lsm/NAME), quota enforcement on writes (507 quota_exceeded), usage
measured from the files, 409 on dropping a non-empty tablespace, locations
under allowed roots (STRATA_TABLESPACE_ROOTS), and a stratad restart.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from strata_harness import assert_json_error
from lsm_helpers import restart_stratad, sigterm_stratad

TS = "/api/v1/storage/tablespaces"
LSM = "/api/v1/storage/lsm"


def ok(r, status=200):
    assert r.status == status, r
    return r.body


def test_crud_names_and_restart(cluster):
    env = cluster
    a = ok(env.request("POST", TS, {"name": "fast", "quota_bytes": 1 << 20}), 201)
    b = ok(env.request("POST", TS, {"name": "slow"}), 201)
    assert a["id"] != b["id"] and a["quota_bytes"] == 1 << 20 and b["quota_bytes"] is None, (a, b)
    assert Path(a["location"]).is_dir() and a["used_bytes"] == 0, a
    assert_json_error(env.request("POST", TS, {"name": "fast"}), 409, "conflict")
    for bad in ("../x", "", "a" * 64, "a/b", "..", "a.b", "sp ace"):
        err = assert_json_error(env.request("POST", TS, {"name": bad}), 400, "bad_request")
        assert "name" in err["message"], (bad, err)
    assert_json_error(env.request("POST", TS, {"name": "q", "quota_bytes": -1}), 400, "bad_request")
    assert_json_error(env.request("POST", TS, {"name": "q", "location": "/tmp/x"}), 400, "bad_request")

    r = ok(env.request("PUT", f"{TS}/{a['id']}", {"name": "quick", "quota_bytes": 2 << 20}))
    assert r["name"] == "quick" and r["quota_bytes"] == 2 << 20 and r["id"] == a["id"], r
    assert_json_error(env.request("PUT", f"{TS}/{a['id']}", {"name": "slow"}), 409, "conflict")
    assert_json_error(env.request("PUT", f"{TS}/{a['id']}", {"name": "x/y"}), 400, "bad_request")
    assert_json_error(env.request("PUT", f"{TS}/999", {"name": "zz"}), 404, "not_found")
    ok(env.request("DELETE", f"{TS}/{b['id']}"))
    assert not Path(b["location"]).exists()
    assert_json_error(env.get(f"{TS}/{b['id']}"), 404, "not_found")

    sigterm_stratad(env)
    restart_stratad(env)
    lst = ok(env.get(TS))["tablespaces"]
    assert [(t["id"], t["name"], t["quota_bytes"]) for t in lst] == [(a["id"], "quick", 2 << 20)], lst
    c = ok(env.request("POST", TS, {"name": "again"}), 201)
    assert c["id"] > b["id"], (b, c)   # ids are never reused


def _put(env, tree, i, size):
    return env.request("PUT", f"{LSM}/{tree}/put", {"key": f"k{i:06d}", "value": "v" * size})


def test_lsm_tree_in_tablespace_quota_and_not_empty(cluster):
    env = cluster
    ts = ok(env.request("POST", TS, {"name": "small", "quota_bytes": 256 * 1024}), 201)
    t = ok(env.request("POST", LSM, {"name": "q1", "sync": "commit", "tablespace": "small"}), 201)
    assert t["tablespace"] == "small", t
    link = env.data / "lsm" / "q1"
    assert link.is_symlink() and Path(os.readlink(link)).parent.parent == Path(ts["location"])
    assert_json_error(env.request("POST", LSM, {"name": "q2", "tablespace": "none-such"}), 404, "not_found")
    assert_json_error(env.request("POST", LSM, {"name": "q2", "tablespace": "../x"}), 400, "bad_request")

    # write 8 KiB values until the quota refuses one: a clear 507
    refused = None
    for i in range(200):
        r = _put(env, "q1", i, 8192)
        if r.status != 200:
            refused = (i, r)
            break
    assert refused, "256 KiB quota never enforced after 1.6 MB of writes"
    i, r = refused
    err = assert_json_error(r, 507, "quota_exceeded")
    assert "small" in err["message"] and "quota" in err["message"], err
    assert 8 <= i <= 64, f"refused after {i} writes of 8 KiB with a 256 KiB quota"
    # batches too
    assert_json_error(env.request("POST", f"{LSM}/q1/batch",
                                  {"ops": [{"put": {"key": "b", "value": "x" * 4096}}]}), 507, "quota_exceeded")
    # what was acknowledged is readable
    assert ok(env.get(f"{LSM}/q1/get/k{i - 1:06d}"))["value"] == "v" * 8192
    # the usage is measured from the files
    info = ok(env.get(f"{TS}/{ts['id']}"))
    assert info["used_bytes"] >= 8 * 8192 and info["objects"] == ["lsm/q1"], info

    # raising the quota lets writes through again
    ok(env.request("PUT", f"{TS}/{ts['id']}", {"quota_bytes": None}))
    ok(_put(env, "q1", 999, 8192))

    # not empty: 409 naming the object
    err = assert_json_error(env.request("DELETE", f"{TS}/{ts['id']}"), 409, "conflict")
    assert "lsm/q1" in err["message"], err

    sigterm_stratad(env)
    restart_stratad(env)
    assert ok(env.get(f"{LSM}/q1/get/k000999"))["value"] == "v" * 8192
    assert ok(env.get(f"{LSM}/q1/get/k000000"))["value"] == "v" * 8192
    ok(env.request("PUT", f"{TS}/{ts['id']}", {"quota_bytes": 1024}))
    assert_json_error(_put(env, "q1", 1000, 10), 507, "quota_exceeded")
    ok(env.request("DELETE", f"{LSM}/q1"))
    assert not link.exists() and not list((Path(ts["location"]) / "lsm").iterdir())
    ok(env.request("DELETE", f"{TS}/{ts['id']}"))
    assert not Path(ts["location"]).exists()


def test_location_under_allowed_root(strata, monkeypatch):
    root = Path(tempfile.mkdtemp(prefix="st-root-", dir="/tmp"))
    try:
        monkeypatch.setenv("STRATA_TABLESPACE_ROOTS", str(root))
        env = strata.start()
        loc = root / "fastdisk"
        ts = ok(env.request("POST", TS, {"name": "ext", "location": str(loc)}), 201)
        assert ts["location"] == str(loc.resolve()) and ts["kind"] == "location", ts
        for bad in ("/etc/strata", str(root), str(root / ".." / "x"), "relative/x", str(root / "a" / "b")):
            assert_json_error(env.request("POST", TS, {"name": "bad", "location": bad}), 400, "bad_request")
        (root / "full").mkdir()
        (root / "full" / "f").write_text("x")
        assert_json_error(env.request("POST", TS, {"name": "bad", "location": str(root / "full")}), 400)
        assert_json_error(env.request("POST", TS, {"name": "bad", "location": str(loc / "inner")}), 409)
        ok(env.request("POST", LSM, {"name": "ext1", "sync": "commit", "tablespace": "ext"}), 201)
        ok(env.request("PUT", f"{LSM}/ext1/put", {"key": "a", "value": "b"}))
        assert (loc / "lsm" / "ext1" / "OPTIONS.json").exists()
        env.kill_stratad()
        env.wait_readyz(503)
        restart_stratad(env)
        assert ok(env.get(f"{LSM}/ext1/get/a"))["value"] == "b"
        deadline = time.time() + 10
        while ok(env.get(f"{TS}/{ts['id']}"))["used_bytes"] == 0 and time.time() < deadline:
            time.sleep(0.1)
        assert ok(env.get(f"{TS}/{ts['id']}"))["used_bytes"] > 0
    finally:
        import shutil
        shutil.rmtree(root, ignore_errors=True)


def test_cli(cluster):
    env = cluster
    r = env.cli("tablespaces", "create", "clits", "4096")
    assert r.returncode == 0 and '"clits"' in r.stdout, (r.stdout, r.stderr)
    r = env.cli("--json", "tablespaces", "list")
    assert r.returncode == 0 and '"quota_bytes":4096' in r.stdout, r.stdout
    r = env.cli("tablespaces", "quota", "1", "none")
    assert r.returncode == 0 and '"quota_bytes": null' in r.stdout, r.stdout
    r = env.cli("tablespaces", "rename", "1", "bad/name")
    assert r.returncode != 0
    r = env.cli("tablespaces", "drop", "1")
    assert r.returncode == 0, r.stderr
