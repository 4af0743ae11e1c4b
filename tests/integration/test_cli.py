"""The `strata` CLI against a real stratad."""
import json
import re

import pytest

from strata_harness import START_TIMEOUT, wait_for

FRAMES = 512


@pytest.fixture
def stratad(strata):
    strata.start_stratad(frames=FRAMES)
    return strata


def test_status_prints_the_pid(stratad):
    r = stratad.cli("status")
    assert r.returncode == 0, r.stderr
    m = re.search(r"^pid\s+(\d+)\s*$", r.stdout, re.M)
    assert m, r.stdout
    assert int(m.group(1)) == stratad.stratad.pid
    assert re.search(rf"^frame_count\s+{FRAMES}\s*$", r.stdout, re.M), r.stdout


def test_json_status_has_the_rest_epoch(stratad):
    stratad.start_front()
    r = stratad.cli("--json", "status")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    s = json.loads(lines[0])
    rest = stratad.status()
    assert s["epoch"] == rest["epoch"]
    assert s["pid"] == rest["pid"] == stratad.stratad.pid
    assert s["frame_count"] == FRAMES


def test_events_count_prints_exactly_n_lines(stratad):
    r = stratad.cli("--count", "2", "events", "buffer-pool")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2, r.stdout
    msgs = [json.loads(line) for line in lines]
    for m in msgs:
        assert m["message_type"] == "buffer_pool_event", m
        assert isinstance(m["data"], dict) and len(m["data"]) == 1, m
        assert isinstance(m["seq"], int) and isinstance(m["epoch"], int), m
    assert msgs[0]["seq"] < msgs[1]["seq"]
    assert msgs[0]["epoch"] == msgs[1]["epoch"]


def test_events_of_several_families(stratad):
    r = stratad.cli("--count", "6", "events", "buffer-pool", "io")
    assert r.returncode == 0, r.stderr
    types = {json.loads(line)["message_type"] for line in r.stdout.splitlines()}
    assert types == {"buffer_pool_event", "disk_io_event"}, r.stdout


def test_events_unknown_family_is_a_usage_error(stratad):
    r = stratad.cli("--count", "1", "events", "bogus")
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "bogus" in r.stderr


def test_top_json_reports_the_frames(stratad):
    r = stratad.cli("--count", "1", "--json", "top")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout
    t = json.loads(lines[0])
    assert t["frames"] == FRAMES
    assert t["pid"] == stratad.stratad.pid
    s = json.loads(stratad.cli("--json", "status").stdout)
    assert t["epoch"] == s["epoch"]


def test_nonexistent_data_dir(strata):
    for cmd in (["status"], ["ping"], ["--count", "1", "events"], ["--count", "1", "top"]):
        r = strata.cli(*cmd, data="/nonexistent/strata")
        assert r.returncode == 3, (cmd, r.returncode, r.stdout, r.stderr)
        assert "/nonexistent/strata" in r.stderr, (cmd, r.stderr)


def test_stratad_not_running(strata):
    """The data dir exists but no stratad serves it: exit 3 and say so."""
    for cmd in (["status"], ["--count", "1", "top"]):
        r = strata.cli(*cmd)
        assert r.returncode == 3, (cmd, r.returncode, r.stdout, r.stderr)
        assert "not running" in r.stderr or "no stratad" in r.stderr, (cmd, r.stderr)


def test_top_after_a_crash_says_no_stratad(strata):
    """kill -9 leaves the stats segment behind: `strata top` must not
    present the dead stratad's frozen figures as live (exit 3, as for any
    stratad that is not running)."""
    strata.start_stratad()
    r = strata.cli("--count", "1", "--json", "top")
    assert r.returncode == 0, r.stderr
    dead = strata.stratad.pid
    strata.kill_stratad()
    assert any(s.exists() for s in strata.shm_segments()), "expected the stale stats segment"
    r = strata.cli("--count", "1", "--json", "top")
    assert r.returncode == 3, (
        f"`strata top` exit {r.returncode} for a stratad killed with -9 (pid {dead}): {r.stdout}")
    assert "no stratad" in r.stderr or "not running" in r.stderr, r.stderr


@pytest.mark.parametrize("args", [
    ["status"], ["--json", "status"], ["ping"], ["call", "sys.ping"],
    ["call", "events.replay", '{"family":"io","after":0}'],
    ["--count", "1", "events", "buffer-pool"], ["--count", "1", "--json", "top"],
], ids=lambda a: " ".join(a))
def test_cli_does_not_leak(stratad, args):
    """With LeakSanitizer on (sanitizer builds), a successful command exits
    0 with no leak report. In a normal build this only checks the exit."""
    r = stratad.cli(*args, detect_leaks=True)
    assert "LeakSanitizer" not in r.stderr, f"`strata {' '.join(args)}` leaks:\n{r.stderr}"
    assert r.returncode == 0, r.stderr


def test_call_with_bad_json_args_is_a_usage_error(stratad):
    r = stratad.cli("call", "sys.ping", "{not json")
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = stratad.cli("call", "no.such_op")
    assert r.returncode == 1 and "bad_request" in r.stderr, (r.returncode, r.stderr)


# ---- events.replay


def replay(env, **args):
    r = env.cli("--json", "call", "events.replay", json.dumps(args))
    assert r.returncode == 0, (args, r.stderr)
    return json.loads(r.stdout)


def wait_replay(env, cond, what, **args):
    """Polls events.replay until cond(result) holds; returns that result."""
    def check():
        res = replay(env, **args)
        return res if cond(res) else None

    return wait_for(check, START_TIMEOUT, what, interval=0.1)


def wait_replay_events(env, n):
    return wait_replay(env, lambda r: len(r["events"]) >= n,
                       f"{n} buffer-pool events in the replay ring", family="buffer-pool", after=0)


def test_replay_returns_consecutive_events(stratad):
    epoch = json.loads(stratad.cli("--json", "status").stdout)["epoch"]
    res = wait_replay_events(stratad, 3)
    assert res["epoch"] == epoch and res["family"] == "buffer-pool", res
    assert res["gap"] is False and res["epoch_changed"] is False, res
    seqs = [e["seq"] for e in res["events"]]
    assert seqs[0] == 1, seqs
    assert seqs == list(range(1, len(seqs) + 1)), f"not consecutive: {seqs}"
    assert res["last_seq"] >= seqs[-1]
    for e in res["events"]:
        assert e["message_type"] == "buffer_pool_event" and e["epoch"] == epoch, e

    # Resuming from a seq gives what came after it.
    after = seqs[1]
    res2 = replay(stratad, family="buffer-pool", after=after, epoch=epoch)
    assert res2["gap"] is False and res2["epoch_changed"] is False, res2
    seqs2 = [e["seq"] for e in res2["events"]]
    assert seqs2 and seqs2[0] == after + 1, seqs2
    assert seqs2 == list(range(after + 1, after + 1 + len(seqs2)))

    # limit
    res3 = replay(stratad, family="buffer-pool", after=0, limit=2)
    assert [e["seq"] for e in res3["events"]] == [1, 2], res3


def test_replay_gives_back_the_live_events(stratad):
    """What events.replay returns for a seq is the event that went out live
    with that seq."""
    r = stratad.cli("--count", "3", "events", "buffer-pool")
    assert r.returncode == 0, r.stderr
    live = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(live) == 3, r.stdout
    res = replay(stratad, family="buffer-pool", after=live[0]["seq"] - 1,
                 epoch=live[0]["epoch"], limit=3)
    assert res["events"] == live, f"replayed {res['events']}\nlive {live}"


@pytest.mark.parametrize("family", ["storage.buffer_pool", "buffer_pool_event"])
def test_replay_family_aliases(stratad, family):
    wait_replay_events(stratad, 1)
    res = replay(stratad, family=family, after=0)
    assert res["family"] == "buffer-pool" and res["events"], res


def test_replay_with_a_wrong_epoch_reports_the_change(stratad):
    res = wait_replay_events(stratad, 3)
    wrong = res["epoch"] ^ 1
    res2 = replay(stratad, family="buffer-pool", after=2, epoch=wrong)
    assert res2["epoch_changed"] is True and res2["gap"] is True, res2
    assert res2["epoch"] == res["epoch"]
    # The client's seqs belonged to another run: it gets this run's from the start.
    assert res2["events"] and res2["events"][0]["seq"] == 1, res2


def test_replay_after_the_ring_wrapped_reports_a_gap(strata):
    strata.start_stratad("--replay-size", "16")
    res = wait_replay(strata, lambda r: r["last_seq"] >= 20, "the replay ring to wrap",
                      family="buffer-pool", after=0)
    assert res["gap"] is True, res
    seqs = [e["seq"] for e in res["events"]]
    assert len(seqs) == 16, seqs
    assert seqs == list(range(res["last_seq"] - 15, res["last_seq"] + 1)), (seqs, res["last_seq"])


def test_replay_unknown_family_is_bad_request(stratad):
    r = stratad.cli("call", "events.replay", '{"family":"bogus","after":0}')
    assert r.returncode != 0, r.stdout
    assert "bad_request" in r.stderr and "family" in r.stderr, r.stderr
    r = stratad.cli("call", "events.replay", '{"after":0}')
    assert r.returncode != 0 and "bad_request" in r.stderr and "family" in r.stderr, r.stderr
    r = stratad.cli("call", "events.replay", '{"family":"io","after":"x"}')
    assert r.returncode != 0 and "bad_request" in r.stderr and "after" in r.stderr, r.stderr
