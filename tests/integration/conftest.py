"""
Fixtures for the process-level integration tests.

  strata   a fresh StrataEnv (private data dir, nothing started yet)
  cluster  the same with stratad + frontend started and /readyz 200

Teardown stops everything and fails the test (as a teardown error) when
stratad or the frontend did not exit 0 on SIGTERM, or when shm segments of
the data dir are left behind. When a test fails, the stdout/stderr of every
process it started are attached to the report.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from strata_harness import BUILD, CLI, FRONT, STRATAD, StrataEnv  # noqa: E402


def pytest_configure(config):
    missing = [str(b) for b in (STRATAD, FRONT, CLI) if not b.exists()]
    if missing:
        raise pytest.UsageError(
            f"integration tests need the binaries in {BUILD} (run `make` first); missing: {missing}")


def pytest_report_header(config):
    return f"strata binaries: {BUILD}"


def _envs_of(item):
    envs = []
    for v in getattr(item, "funcargs", {}).values():
        if isinstance(v, StrataEnv) and all(v is not e for e in envs):
            envs.append(v)
    return envs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when in ("setup", "call") and rep.failed:
        for env in _envs_of(item):
            try:
                rep.sections.append((f"processes of {env.root}", env.describe()))
            except OSError:
                pass


def _finish(env: StrataEnv):
    problems = env.close()
    if problems:
        pytest.fail("teardown: " + "; ".join(problems) + "\n" + getattr(env, "last_logs", ""),
                    pytrace=False)


@pytest.fixture
def strata():
    env = StrataEnv()
    yield env
    _finish(env)


@pytest.fixture
def cluster(strata):
    return strata.start()


@pytest.fixture(scope="module")
def shared_cluster():
    """One stratad + frontend for a module of read-only tests."""
    env = StrataEnv()
    try:
        env.start()
    except BaseException:
        env.close()
        raise
    yield env
    _finish(env)
