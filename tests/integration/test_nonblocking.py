"""A slow control op (debug.sleep, enabled by --enable-debug-ops) holds one
stratad request worker; /healthz and /api/v1/storage/status keep answering.

A correctness check of non-blocking behaviour, not a benchmark: the bound
is loose (1.5 s per request against a 3 s sleep)."""
import json
import time

from strata_harness import CLI_TIMEOUT

SLEEP_MS = 3000
BOUND_S = 1.5


def test_slow_op_does_not_delay_healthz_or_status(cluster):
    epoch = cluster.status()["epoch"]
    t0 = time.monotonic()
    slow = cluster.cli_popen("call", "debug.sleep", json.dumps({"ms": SLEEP_MS}))
    try:
        timings = []
        # Keep asking for 2 s of the 3 s sleep: the later requests certainly
        # overlap it (the CLI needs far less than 2 s to send it).
        while time.monotonic() - t0 < 2.0:
            for path in ("/healthz", "/api/v1/storage/status"):
                a = time.monotonic()
                r = cluster.get(path, timeout=SLEEP_MS / 1000 + 5)
                took = time.monotonic() - a
                timings.append((path, round(took, 3), r.status))
                assert r.status == 200, (path, r)
                if path.endswith("status"):
                    assert r.body["epoch"] == epoch
                assert took < BOUND_S, f"{path} took {took:.2f} s during a slow op: {timings}"
        assert slow.poll() is None, (
            "the slow op ended before the checks did, so they did not overlap it: "
            f"rc {slow.returncode}")
        assert len(timings) >= 4, timings
        out, err = slow.communicate(timeout=CLI_TIMEOUT)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    elapsed = time.monotonic() - t0
    assert slow.returncode == 0, err
    assert json.loads(out) == {"slept_ms": SLEEP_MS}
    assert elapsed >= SLEEP_MS / 1000, f"the slow op returned after {elapsed:.2f} s"


def test_debug_ops_need_the_flag(strata):
    strata.start_stratad()  # the harness passes --enable-debug-ops
    r = strata.cli("call", "debug.sleep", '{"ms":1}')
    assert r.returncode == 0, r.stderr
    assert strata.stop_stratad() == 0

    # Without the flag debug.* is an unknown op.
    strata.start_stratad(debug_ops=False)
    r = strata.cli("call", "debug.sleep", '{"ms":1}')
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "bad_request" in r.stderr and "debug.sleep" in r.stderr, r.stderr
