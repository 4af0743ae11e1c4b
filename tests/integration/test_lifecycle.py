"""stratad's life: crash and restart under a running frontend, the data dir
lock, clean shutdown, start-up refusals."""
import asyncio
import os
import signal
from pathlib import Path

import pytest

from strata_harness import (MAX_SOCKET_PATH, START_TIMEOUT, STOP_TIMEOUT, WsReader,
                            assert_json_error, is_event, is_notice, shm_segments_of, wait_for,
                            ws_open)


def is_pool_stats(m, epoch=None):
    return is_event(m, "buffer_pool_event", "PoolStats") and (epoch is None or m["epoch"] == epoch)


def connection_notice(state):
    return lambda m: is_notice(m, "connection") and m["data"].get("stratad") == state


def test_kill9_and_restart_under_a_running_frontend(cluster):
    """SIGKILL stratad: 503s and a "down" notice, the WebSocket stays open;
    a new stratad on the same data dir (over the stale lock, sockets and
    shm of the killed one): new epoch, ready again, and the SAME WebSocket
    gets its events, without restarting the frontend."""
    epoch1 = cluster.status()["epoch"]
    front_pid = cluster.front.pid

    async def main():
        async with ws_open(cluster.ws_url("/api/v1/ws/storage/buffer-pool")) as ws:
            r = WsReader(ws)
            await r.first(lambda m: is_pool_stats(m, epoch1), what="PoolStats of the first epoch")

            await asyncio.to_thread(cluster.kill_stratad)
            down = await r.first(connection_notice("down"), what="'stratad down' notice")
            assert down["data"].get("stream") == "buffer-pool", down

            ready = await asyncio.to_thread(cluster.wait_readyz, 503)
            assert_json_error(ready, 503, "unavailable")
            st = await asyncio.to_thread(cluster.get, "/api/v1/storage/status")
            assert_json_error(st, 503, "unavailable")
            assert (await asyncio.to_thread(cluster.get, "/healthz")).status == 200

            # kill -9 left its state behind: the restart must cope with it.
            stale = [p for p in cluster.sockets() + cluster.shm_segments() if p.exists()]
            assert stale, "expected a stale socket or shm segment after kill -9"

            await asyncio.to_thread(cluster.start_stratad)
            await asyncio.to_thread(cluster.wait_readyz, 200)
            s2 = await asyncio.to_thread(cluster.status)
            assert s2["epoch"] != epoch1, "a restarted stratad must have a new epoch"
            assert s2["pid"] == cluster.stratad.pid

            ev = await r.first(lambda m: is_pool_stats(m, s2["epoch"]),
                               what="PoolStats of the new epoch on the same WebSocket")
            assert ev["data"]["PoolStats"]["total_pages"] > 0
            after_down = r.seen[r.seen.index(down) + 1:]
            assert any(connection_notice("up")(m) for m in after_down), \
                f"no 'stratad up' notice after the restart: {r.recent(10)}"

    asyncio.run(main())
    assert cluster.front.running() and cluster.front.pid == front_pid


def test_frontend_started_before_stratad_connects_by_itself(strata):
    strata.start_front(wait_ready=False)
    ready = strata.get("/readyz")
    assert_json_error(ready, 503, "unavailable")
    assert ready.body.get("control_connected") is False, ready.body
    assert_json_error(strata.get("/api/v1/storage/status"), 503, "unavailable")

    strata.start_stratad()
    strata.wait_readyz(200)
    assert strata.status()["pid"] == strata.stratad.pid


def test_second_stratad_on_the_same_data_dir_is_refused(cluster):
    first = cluster.stratad
    s1 = cluster.status()
    # Also through another spelling of the same dir (a symlink).
    link = cluster.root / "link"
    os.symlink(cluster.data, link)
    for data in (cluster.data, link):
        p = cluster.spawn("stratad-second", cluster.stratad_argv(data=data))
        rc = p.wait(START_TIMEOUT)
        assert rc != 0, f"a second stratad on {data} started:\n{p.describe()}"
        err = p.stderr()
        assert "another stratad" in err and str(first.pid) in err, err

    # The first one keeps serving, with its endpoints and segments intact.
    assert first.running()
    s2 = cluster.status()
    assert (s2["pid"], s2["epoch"]) == (s1["pid"], s1["epoch"])
    assert all(p.exists() for p in cluster.sockets()), "the refused stratad removed a socket"
    assert all(p.exists() for p in cluster.shm_segments()), "the refused stratad removed shm"
    r = cluster.cli("ping")
    assert r.returncode == 0, r.stderr
    cluster.wait_readyz(200)


def _dir_with_socket_path_len(root, n):
    """A (not yet existing) dir under root whose events.sock path (the
    longer of the two sockets) is exactly n bytes."""
    d = str(root)
    left = n - len(d) - len("/events.sock")
    assert left >= 2, (root, n)
    while left > 0:
        take = min(left, 61)  # "/" and up to 60 characters
        if left - take == 1:
            take -= 1
        d += "/" + "x" * (take - 1)
        left -= take
    assert len(d + "/events.sock") == n
    return d


def test_data_dir_too_deep_for_a_socket_path(strata):
    deep = _dir_with_socket_path_len(strata.root, MAX_SOCKET_PATH + 1)
    p = strata.spawn("stratad", strata.stratad_argv(data=deep))
    rc = p.wait(START_TIMEOUT)
    assert rc != 0, p.describe()
    err = p.stderr()
    assert str(MAX_SOCKET_PATH) in err and "socket path" in err, err
    assert not any(s.exists() for s in strata.shm_segments()), "shm left by a refused start"
    # The real segments would be named after the deep dir.
    assert not any(s.exists() for s in shm_segments_of(deep))


def test_data_dir_at_the_socket_path_limit_works(strata):
    deep = _dir_with_socket_path_len(strata.root, MAX_SOCKET_PATH)
    os.makedirs(deep)
    strata.data = Path(deep)
    strata.start()
    assert strata.status()["data_dir"] == os.path.realpath(deep)
    r = strata.cli("ping")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_clean_shutdown_removes_sockets_and_shm(cluster, sig):
    segs = cluster.shm_segments()
    assert all(s.exists() for s in segs), f"expected the shm segments {segs} while running"
    assert all(s.exists() for s in cluster.sockets())
    rc = cluster.stop_stratad(sig)
    assert not cluster.stratad.forced_kill, f"stratad ignored {sig.name} for {STOP_TIMEOUT} s"
    assert rc == 0, cluster.stratad.describe()
    assert f"{sig.name}, shutting down" in cluster.stratad.stdout()
    left = [str(p) for p in cluster.sockets() if p.exists()]
    assert not left, f"sockets left in the data dir: {left}"
    left = [str(s) for s in segs if s.exists()]
    assert not left, f"shm segments left: {left}"
    # The frontend notices and says so.
    cluster.wait_readyz(503)


@pytest.mark.parametrize("args, needle", [
    (["--frames", "5"], "--frames"),
    (["--page-size", "5000"], "power of two"),
    (["--page-size", "2048"], "--page-size"),
    (["--stats-interval-ms", "10"], "--stats-interval-ms"),
    (["--workers", "0"], "--workers"),
    (["--bogus"], "usage"),
    (["extra-arg"], "unexpected argument"),
])
def test_bad_options_are_refused(strata, args, needle):
    p = strata.spawn("stratad", strata.stratad_argv(*args))
    rc = p.wait(START_TIMEOUT)
    assert rc == 2, p.describe()
    assert needle in p.stderr(), p.stderr()
    assert not any(s.exists() for s in strata.shm_segments())


def test_stale_files_alone_do_not_block_a_start(strata):
    """Leftovers of a crashed stratad whose pid is gone: a stale lock file
    with a dead pid, stale sockets and stale shm segments."""
    strata.start_stratad()
    strata.kill_stratad()
    dead_pid = strata.stratad.pid
    assert (strata.data / "stratad.lock").read_text().strip() == str(dead_pid)
    strata.start_stratad()
    r = strata.cli("--json", "status")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: all(s.exists() for s in strata.shm_segments()), START_TIMEOUT, "shm")
