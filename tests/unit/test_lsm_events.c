/*
 * tests/unit/test_lsm_events.c — write stalls (slowdown, stop with bounded
 * waiting, recovery) and the storage.lsm events a tree emits.
 */
#include "test_lsm_util.h"

#include "core/stats.h"

TestSuite(lsm_events, .init = tdir_setup, .fini = tdir_teardown, .timeout = 60);

static struct strata_event evs[EMIT_RING_SLOTS * 2];

static size_t drain(void)
{
	return emit_drain(evs, sizeof(evs) / sizeof(evs[0]));
}

static size_t count_variant(size_t n, enum strata_ev_variant v)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += evs[i].variant == v;
	return c;
}

static const struct strata_event *find_stall(size_t n, const char *reason_prefix)
{
	for (size_t i = 0; i < n; i++)
		if (evs[i].variant == STRATA_EV_WriteStall &&
		    strncmp(evs[i].u.WriteStall.reason, reason_prefix, strlen(reason_prefix)) == 0)
			return &evs[i];
	return NULL;
}

Test(lsm_events, l0_limits_delay_then_stop_writes_with_bounded_wait)
{
	struct lsm_options o = {
		.memtable_bytes = 4 << 10,
		.l0_compaction_trigger = 100, /* nothing relieves L0 */
		.l0_slowdown_files = 2,
		.l0_stop_files = 3,
		.stall_delay_us = 2000,
		.stall_timeout_ms = 300,
	};
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "stall", &o));
	(void)drain();
	char v[100];
	memset(v, 'v', sizeof(v));
	int rc = 0, i;
	for (i = 0; i < 5000 && rc == 0; i++) {
		char k[16];
		int kl = sprintf(k, "key%05d", i);
		rc = lsm_put(t, k, (size_t)kl, v, sizeof(v), NULL);
	}
	cr_assert_eq(rc, STRATA_EBUSY, "writes never stopped (%d after %d puts)", rc, i);
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_geq(st.write_stalls, 2);
	cr_assert_geq(st.stall_us, 300000);
	/* memtables switched before the stop still flush: L0 may pass 3 */
	cr_assert_geq(st.level[0].files, 3);
	cr_assert_leq(st.immutables, 2, "memory not bounded: %lu immutables",
		      (unsigned long)st.immutables);
	cr_assert_geq(stat_get(&core_stats()->lsm.write_stalls), 2);
	size_t n = drain();
	const struct strata_event *d = find_stall(n, "delayed"), *s = find_stall(n, "stopped: l0_files");
	cr_assert_not_null(d, "no WriteStall delayed event");
	cr_assert_not_null(s, "no WriteStall stopped event");
	cr_assert_str_eq(d->u.WriteStall.tree_name, "stall");
	cr_assert_eq(d->u.WriteStall.l0_files, 2);
	cr_assert_str_eq(s->u.WriteStall.reason, "stopped: l0_files");
	cr_assert_geq(s->u.WriteStall.l0_files, 3);

	/* a compaction clears L0; writes flow again and the stall ends */
	CHECK_OK(lsm_compact(t));
	CHECK_OK(lsm_put(t, "after", 5, "x", 1, NULL));
	n = drain();
	const struct strata_event *nm = find_stall(n, "normal");
	cr_assert_not_null(nm, "no WriteStall normal event");
	cr_assert_gt(nm->u.WriteStall.stall_us, 0);
	cr_assert_eq(nm->u.WriteStall.l0_files, 0);
	CHECK_OK(lsm_close(t));
}

Test(lsm_events, stopped_by_too_many_immutable_memtables)
{
	/* a failing SSTable fsync keeps memtables from flushing */
	struct lsm_options o = {.memtable_bytes = 2 << 10, .max_immutables = 1,
				.stall_timeout_ms = 200};
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "imm", &o));
	(void)drain();
	struct file_fault f = {.ops = FILE_OP_SYNC, .path_contains = ".sst.tmp",
			       .kind = FILE_FAULT_ERROR, .times = FILE_FAULT_FOREVER};
	CHECK_OK(file_fault_inject(&f));
	char v[100];
	memset(v, 'v', sizeof(v));
	int rc = 0;
	for (int i = 0; i < 1000 && rc == 0; i++) {
		char k[16];
		int kl = sprintf(k, "key%05d", i);
		rc = lsm_put(t, k, (size_t)kl, v, sizeof(v), NULL);
	}
	/* the failed flush makes the tree refuse writes rather than grow */
	cr_assert(rc == STRATA_EREAD_ONLY || rc == STRATA_EBUSY, "rc %d", rc);
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_leq(st.immutables, 1);
	file_fault_clear();
	(void)lsm_close(t);
	CHECK_OK(lsm_open(&t, tree, "imm", &o)); /* the WAL still has everything */
	void *got;
	size_t gl;
	CHECK_OK(lsm_get(t, "key00000", 8, &got, &gl));
	free(got);
	CHECK_OK(lsm_close(t));
}

Test(lsm_events, flush_compaction_migration_and_wa_events)
{
	struct lsm_options o = {
		.memtable_bytes = 8 << 10,
		.l0_compaction_trigger = 1,
		.level_base_bytes = 64 << 10,
		.target_file_bytes = 16 << 10,
		.wa_alert_threshold = 1.01,
		.no_compression = true, /* 'x' values would compress below WA 1 */
	};
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "ev", &o));
	(void)drain();
	char v[64];
	memset(v, 'x', sizeof(v));
	/* ascending keys first: tables that do not overlap move down whole */
	for (int i = 0; i < 400; i++) {
		char k[16];
		int kl = sprintf(k, "a%06d", i);
		CHECK_OK(lsm_put(t, k, (size_t)kl, v, sizeof(v), NULL));
	}
	CHECK_OK(lsm_flush(t));
	/* then overwrites across the range: merging compactions */
	for (int round = 0; round < 6; round++) {
		for (int i = 0; i < 400; i += 3) {
			char k[16];
			int kl = sprintf(k, "a%06d", (i * 7 + round) % 400);
			CHECK_OK(lsm_put(t, k, (size_t)kl, v, sizeof(v), NULL));
		}
		CHECK_OK(lsm_flush(t));
	}
	CHECK_OK(lsm_compact(t));
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	CHECK_OK(lsm_close(t));
	size_t n = drain();
	cr_assert_geq(count_variant(n, STRATA_EV_MemtableFlushed), 7);
	cr_assert_geq(count_variant(n, STRATA_EV_CompactionStarted), 1);
	cr_assert_geq(count_variant(n, STRATA_EV_CompactionCompleted), 1);
	cr_assert_geq(count_variant(n, STRATA_EV_CompactionProgress), 1);
	cr_assert_geq(count_variant(n, STRATA_EV_LevelMigration), 1, "no trivial move (%lu)",
		      (unsigned long)st.trivial_moves);
	cr_assert_geq(count_variant(n, STRATA_EV_WriteAmplificationAlert), 1,
		     "WA %.2f: alerts %zu", st.write_amplification,
		     count_variant(n, STRATA_EV_WriteAmplificationAlert));
	for (size_t i = 0; i < n; i++) {
		const struct strata_event *e = &evs[i];
		if (e->family != STRATA_FAM_LSM)
			continue; /* the file layer's storage.io events */
		switch (e->variant) {
		case STRATA_EV_MemtableFlushed:
			cr_assert_str_eq(e->u.MemtableFlushed.tree_name, "ev");
			cr_assert_gt(e->u.MemtableFlushed.entries, 0);
			cr_assert_gt(e->u.MemtableFlushed.size_bytes, 0);
			cr_assert_gt(e->u.MemtableFlushed.timestamp, 1600000000);
			break;
		case STRATA_EV_CompactionCompleted:
			cr_assert_str_eq(e->u.CompactionCompleted.tree_name, "ev");
			cr_assert_geq(e->u.CompactionCompleted.old_sstables, 1);
			break;
		case STRATA_EV_CompactionProgress:
			cr_assert(e->u.CompactionProgress.percent >= 0 &&
				  e->u.CompactionProgress.percent <= 100);
			cr_assert_gt(e->u.CompactionProgress.bytes_total, 0);
			break;
		case STRATA_EV_LevelMigration:
			cr_assert_eq(e->u.LevelMigration.to_level, e->u.LevelMigration.from_level + 1);
			cr_assert_eq(e->u.LevelMigration.sstable_count, 1);
			break;
		case STRATA_EV_WriteAmplificationAlert:
			cr_assert_gt(e->u.WriteAmplificationAlert.write_amplification, 1.01);
			cr_assert_eq(e->u.WriteAmplificationAlert.threshold, 1.01);
			break;
		default:
			break;
		}
	}
}
