/*
 * tests/unit/test_partition_intent.c — the intent log of partitioned
 * tables (core/partition/intent.h): record encode/decode, torn tails and
 * CRC mismatches, the log's recovery (pending, done, torn, stale DONE
 * records, shrinking), and through ptable.h the crash it exists for: a
 * crash image taken after 0, 1 or all 3 partitions of an insert were
 * written opens with the whole insert (rolled forward), replaying it again
 * changes nothing, and a failed partition write is completed before the
 * table's next operation of any kind (info, partition lists, partition-for,
 * query, insert, add, drop; through the catalog: the table list, every
 * partition, drop table), which fails with an error while it cannot be.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/emit.h"
#include "core/file.h"
#include "core/partition/catalog.h"
#include "core/partition/intent.h"
#include "core/partition/ptable.h"
#include "strata/error.h"

static char tdir[256];

static int rm_cb(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st, (void)t, (void)f;
	return remove(p);
}

static void setup(void)
{
	snprintf(tdir, sizeof(tdir), "/var/tmp/strata-test-intent-XXXXXX");
	cr_assert_not_null(mkdtemp(tdir));
	emit_set_rare_limit(0);
}

static void teardown(void)
{
	nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- records ------------------------------------------------------------- */

#define NOPS 5

static void sample_ops(struct intent_op *ops, char keys[][16], char vals[][64])
{
	for (int i = 0; i < NOPS; i++) {
		snprintf(keys[i], 16, "key-%d", i);
		snprintf(vals[i], 64, "{\"value\":%d,\"pad\":\"%.*s\"}", i * 7, i * 5, "xxxxxxxxxxxxxxxxxxxxxxxxx");
		ops[i] = (struct intent_op){(uint64_t)(100 + i % 3), keys[i], (uint32_t)strlen(keys[i]),
					    vals[i], (uint32_t)strlen(vals[i])};
	}
	ops[NOPS - 1].vlen = 0; /* an empty value round-trips too */
}

static void assert_ops_equal(const struct intent_rec *r, const struct intent_op *ops, size_t n)
{
	cr_assert_eq(r->n, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(r->ops[i].part_id, ops[i].part_id, "op %zu", i);
		cr_assert_eq(r->ops[i].klen, ops[i].klen, "op %zu", i);
		cr_assert_eq(r->ops[i].vlen, ops[i].vlen, "op %zu", i);
		cr_assert_eq(memcmp(r->ops[i].key, ops[i].key, ops[i].klen), 0, "op %zu", i);
		cr_assert_eq(memcmp(r->ops[i].val, ops[i].val, ops[i].vlen), 0, "op %zu", i);
	}
}

Test(intent, encode_decode_round_trip)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	uint8_t *b;
	size_t len, used;
	cr_assert_eq(intent_encode(INTENT_KIND_INTENT, 42, ops, NOPS, &b, &len), 0);
	struct intent_rec r;
	cr_assert_eq(intent_decode(b, len, &r, &used), 0);
	cr_assert_eq(used, len);
	cr_assert_eq(r.kind, INTENT_KIND_INTENT);
	cr_assert_eq(r.seq, 42);
	assert_ops_equal(&r, ops, NOPS);
	intent_rec_clear(&r);
	/* Bytes after a record are not part of it. */
	uint8_t *more = malloc(len + 50);
	memcpy(more, b, len);
	memset(more + len, 0xAB, 50);
	cr_assert_eq(intent_decode(more, len + 50, &r, &used), 0);
	cr_assert_eq(used, len);
	intent_rec_clear(&r);
	free(more);
	free(b);

	cr_assert_eq(intent_encode(INTENT_KIND_DONE, 42, NULL, 0, &b, &len), 0);
	cr_assert_eq(len, INTENT_HDR + INTENT_FIXED);
	cr_assert_eq(intent_decode(b, len, &r, &used), 0);
	cr_assert_eq(r.kind, INTENT_KIND_DONE);
	cr_assert_eq(r.seq, 42);
	cr_assert_eq(r.n, 0);
	intent_rec_clear(&r);
	free(b);
	cr_assert_eq(intent_encode(INTENT_KIND_DONE, 1, ops, 1, &b, &len), STRATA_EBAD_REQUEST);
	cr_assert_eq(intent_encode((enum intent_kind)7, 1, NULL, 0, &b, &len), STRATA_EBAD_REQUEST);
}

Test(intent, every_torn_prefix_is_not_a_record)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	uint8_t *b;
	size_t len, used;
	cr_assert_eq(intent_encode(INTENT_KIND_INTENT, 7, ops, NOPS, &b, &len), 0);
	for (size_t cut = 0; cut < len; cut++) {
		struct intent_rec r;
		uint8_t *p = malloc(cut ? cut : 1);
		memcpy(p, b, cut);
		cr_assert_eq(intent_decode(p, cut, &r, &used), STRATA_ENOT_FOUND, "cut at %zu of %zu", cut, len);
		cr_assert_null(r.ops);
		free(p);
	}
	free(b);
}

Test(intent, crc_mismatch_and_forged_records_are_corrupt)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	uint8_t *b;
	size_t len, used;
	cr_assert_eq(intent_encode(INTENT_KIND_INTENT, 9, ops, NOPS, &b, &len), 0);
	struct intent_rec r;
	/* Any flipped bit outside the length field: a CRC mismatch. In the
	 * length field: corrupt or (longer) torn — never a record. */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			b[i] ^= (uint8_t)(1u << bit);
			int rv = intent_decode(b, len, &r, &used);
			if (i >= 4 && i < 8)
				cr_assert(rv == STRATA_ECORRUPT || rv == STRATA_ENOT_FOUND, "byte %zu: %d", i, rv);
			else
				cr_assert_eq(rv, STRATA_ECORRUPT, "byte %zu bit %d", i, bit);
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	cr_assert_eq(intent_decode(b, len, &r, &used), 0);
	intent_rec_clear(&r);

	/* Valid CRC, bad structure: each is corrupt, none crashes. */
	struct {
		size_t at;
		uint32_t v;
	} forge[] = {
		{INTENT_HDR, 0x12345678},             /* magic */
		{INTENT_HDR + 4, 9},                  /* kind (low byte) */
		{INTENT_HDR + INTENT_FIXED, 1000000}, /* nops */
		{INTENT_HDR + INTENT_FIXED, 2},       /* fewer ops: trailing bytes */
		{INTENT_HDR + INTENT_FIXED + 4 + 8, 1u << 20}, /* op 0 klen */
	};
	for (size_t f = 0; f < sizeof(forge) / sizeof(forge[0]); f++) {
		uint8_t *c = malloc(len);
		memcpy(c, b, len);
		memcpy(c + forge[f].at, &forge[f].v, 4);
		uint32_t crc = crc32c(0, c + 4, len - 4);
		memcpy(c, &crc, 4);
		cr_assert_eq(intent_decode(c, len, &r, &used), STRATA_ECORRUPT, "forgery %zu", f);
		cr_assert_null(r.ops);
		free(c);
	}
	/* A huge length is corrupt, not an allocation. */
	uint32_t huge = 0xFFFFFFF0u;
	memcpy(b + 4, &huge, 4);
	cr_assert_eq(intent_decode(b, len, &r, &used), STRATA_ECORRUPT);
	free(b);
}

/* ---- the log ------------------------------------------------------------- */

static void log_path(char *p, size_t n)
{
	snprintf(p, n, "%s/%s", tdir, INTENT_FILE);
}

static off_t file_len(void)
{
	char p[300];
	log_path(p, sizeof(p));
	struct stat st;
	cr_assert_eq(stat(p, &st), 0);
	return st.st_size;
}

static struct intent_log *reopen(struct intent_log *l, struct intent_recovery *rec)
{
	if (l)
		cr_assert_eq(intent_log_close(l), 0);
	struct intent_log *nl;
	cr_assert_eq(intent_log_open(&nl, tdir, rec), 0);
	return nl;
}

Test(intent, log_pending_done_and_sequence, .init = setup, .fini = teardown)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	struct intent_recovery rec;
	struct intent_log *l = reopen(NULL, &rec);
	cr_assert(!rec.pending && !rec.torn);
	cr_assert(!intent_log_is_pending(l));
	struct intent_rec r;
	cr_assert_eq(intent_log_pending(l, &r), STRATA_ENOT_FOUND);

	uint64_t s1, s2;
	cr_assert_eq(intent_log_begin(l, ops, NOPS, true, &s1), 0);
	cr_assert(intent_log_is_pending(l));
	/* "crash": closed without done */
	l = reopen(l, &rec);
	cr_assert(rec.pending && !rec.torn);
	cr_assert_eq(rec.seq, s1);
	cr_assert_eq(intent_log_pending(l, &r), 0);
	cr_assert_eq(r.seq, s1);
	assert_ops_equal(&r, ops, NOPS);
	intent_rec_clear(&r);
	cr_assert_eq(intent_log_done(l, s1 + 1), STRATA_EBAD_REQUEST);
	cr_assert_eq(intent_log_done(l, s1), 0);
	cr_assert_eq(intent_log_done(l, s1), STRATA_EBAD_REQUEST);
	l = reopen(l, &rec);
	cr_assert(!rec.pending && !rec.torn);

	/* Sequence numbers go on across opens. */
	cr_assert_eq(intent_log_begin(l, ops, 2, true, &s2), 0);
	cr_assert_gt(s2, s1);
	cr_assert_eq(intent_log_done(l, s2), 0);
	cr_assert_eq(intent_log_seq(l), s2);
	cr_assert_eq(intent_log_begin(l, ops, 0, true, &s2), STRATA_EBAD_REQUEST);
	cr_assert_eq(intent_log_close(l), 0);
}

Test(intent, stale_done_never_closes_a_later_intent, .init = setup, .fini = teardown)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	struct intent_recovery rec;
	struct intent_log *l = reopen(NULL, &rec);
	uint64_t s1, s2;
	/* Same length twice: the second INTENT ends where the first's DONE
	 * starts, so that DONE (of seq s1) follows it on disk. */
	cr_assert_eq(intent_log_begin(l, ops, NOPS, false, &s1), 0);
	cr_assert_eq(intent_log_done(l, s1), 0);
	off_t with_done = file_len();
	cr_assert_eq(intent_log_begin(l, ops, NOPS, true, &s2), 0);
	cr_assert_eq(file_len(), with_done);
	l = reopen(l, &rec);
	cr_assert(rec.pending, "the DONE of intent %llu closed intent %llu", (unsigned long long)s1,
		  (unsigned long long)s2);
	cr_assert_eq(rec.seq, s2);
	cr_assert_eq(intent_log_close(l), 0);
}

Test(intent, torn_intent_is_discarded_and_the_log_reset, .init = setup, .fini = teardown)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	struct intent_recovery rec;
	struct intent_log *l = reopen(NULL, &rec);
	uint64_t s;
	cr_assert_eq(intent_log_begin(l, ops, NOPS, true, &s), 0);
	cr_assert_eq(intent_log_close(l), 0);
	off_t full = file_len();
	char p[300];
	log_path(p, sizeof(p));
	/* Torn tail: the record cut short. */
	cr_assert_eq(truncate(p, full - 3), 0);
	l = reopen(NULL, &rec);
	cr_assert(rec.torn && !rec.pending);
	cr_assert_eq(file_len(), 0);
	/* Torn in the middle (a sector of the overwrite missing). */
	cr_assert_eq(intent_log_begin(l, ops, NOPS, true, &s), 0);
	cr_assert_eq(intent_log_close(l), 0);
	FILE *f = fopen(p, "r+b");
	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 30, SEEK_SET), 0);
	cr_assert_eq(fputc(0x5A ^ 0xFF, f), 0x5A ^ 0xFF);
	cr_assert_eq(fclose(f), 0);
	l = reopen(NULL, &rec);
	cr_assert(rec.torn && !rec.pending);
	uint64_t s2;
	cr_assert_eq(intent_log_begin(l, ops, 1, true, &s2), 0);
	cr_assert_eq(intent_log_done(l, s2), 0);
	l = reopen(l, &rec);
	cr_assert(!rec.torn && !rec.pending);
	cr_assert_eq(intent_log_close(l), 0);
}

Test(intent, torn_write_of_an_intent_is_discarded, .init = setup, .fini = teardown)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	struct intent_recovery rec;
	struct intent_log *l = reopen(NULL, &rec);
	uint64_t s1, s2;
	cr_assert_eq(intent_log_begin(l, ops, 2, true, &s1), 0);
	cr_assert_eq(intent_log_done(l, s1), 0);
	/* The next INTENT's write tears after 20 bytes (a crash mid-write). */
	struct file_fault f = {.path_contains = INTENT_FILE, .ops = FILE_OP_WRITE,
			       .kind = FILE_FAULT_TORN, .partial_len = 20, .errnum = 5};
	cr_assert_eq(file_fault_inject(&f), 0);
	cr_assert_eq(intent_log_begin(l, ops, NOPS, true, &s2), STRATA_EIO);
	file_fault_clear();
	cr_assert(!intent_log_is_pending(l));
	l = reopen(l, &rec);
	cr_assert(rec.torn && !rec.pending, "a torn intent must not be replayed");
	cr_assert_eq(intent_log_close(l), 0);
}

Test(intent, log_stays_bounded, .init = setup, .fini = teardown)
{
	size_t n = 300, vlen = 8000; /* 2.4 MB intent */
	struct intent_op *ops = calloc(n, sizeof(*ops));
	char *val = malloc(vlen);
	memset(val, 'v', vlen);
	char keys[300][8];
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%zu", i);
		ops[i] = (struct intent_op){1, keys[i], (uint32_t)strlen(keys[i]), val, (uint32_t)vlen};
	}
	struct intent_recovery rec;
	struct intent_log *l = reopen(NULL, &rec);
	uint64_t s;
	cr_assert_eq(intent_log_begin(l, ops, n, true, &s), 0);
	cr_assert_eq(intent_log_done(l, s), 0);
	cr_assert_gt(file_len(), (off_t)INTENT_SHRINK_BYTES);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(intent_log_begin(l, ops, 1, true, &s), 0);
		cr_assert_eq(intent_log_done(l, s), 0);
	}
	cr_assert_lt(file_len(), 10000);
	l = reopen(l, &rec);
	cr_assert(!rec.torn && !rec.pending);
	cr_assert_eq(intent_log_close(l), 0);
	free(ops);
	free(val);
}

Test(intent, failed_sync_makes_the_log_read_only, .init = setup, .fini = teardown)
{
	struct intent_op ops[NOPS];
	char keys[NOPS][16], vals[NOPS][64];
	sample_ops(ops, keys, vals);
	struct intent_recovery rec;
	struct intent_log *l = reopen(NULL, &rec);
	struct file_fault f = {.path_contains = INTENT_FILE, .ops = FILE_OP_SYNC,
			       .kind = FILE_FAULT_ERROR, .errnum = 5};
	cr_assert_eq(file_fault_inject(&f), 0);
	uint64_t s;
	cr_assert_eq(intent_log_begin(l, ops, NOPS, true, &s), STRATA_EIO);
	file_fault_clear();
	cr_assert(!intent_log_is_pending(l));
	cr_assert_eq(intent_log_begin(l, ops, NOPS, true, &s), STRATA_EREAD_ONLY);
	cr_assert_eq(intent_log_close(l), 0);
}

/* ---- tables: crash images between partition writes ------------------------ */

static char image[300];
static size_t crash_at;
static int hook_calls;

/* Copies the table directory as it is at this moment: what a kill -9 here
 * would leave (every write so far is in the page cache). */
static int image_hook(void *arg, const char *table, size_t written)
{
	(void)arg, (void)table;
	hook_calls++;
	if (written != crash_at)
		return 0;
	char cmd[1000];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s/t' '%s'", image, tdir, image);
	cr_assert_eq(system(cmd), 0);
	return 0;
}

static int fail_hook(void *arg, const char *table, size_t written)
{
	(void)arg, (void)table;
	return written == crash_at;
}

static struct ptable *make_table(const char *pk)
{
	char msg[512], dir[300];
	snprintf(dir, sizeof(dir), "%s/t", tdir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	json_error_t je;
	json_t *spec = json_loads("{\"key\":\"day\",\"strategy\":\"range\",\"partitions\":["
				  "{\"name\":\"a\",\"from\":0,\"to\":100},{\"name\":\"b\",\"from\":100,\"to\":200},"
				  "{\"name\":\"c\",\"from\":200,\"to\":300}]}", 0, &je);
	cr_assert_not_null(spec);
	if (pk)
		json_object_set_new(spec, "primary_key", json_string(pk));
	uint64_t ids[3] = {1, 2, 3};
	cr_assert_eq(ptable_init_dir(dir, "t", spec, ids, 3, 0, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(spec);
	struct ptable *t;
	cr_assert_eq(ptable_open(&t, dir, "t", msg, sizeof(msg)), 0, "%s", msg);
	return t;
}

/* rows of batch b: 3 per partition */
static json_t *batch_rows(int b)
{
	json_t *rows = json_array();
	for (int i = 0; i < 9; i++)
		json_array_append_new(rows, json_pack("{s:i, s:i, s:i, s:s}", "day", (i % 3) * 100 + b * 3 + i / 3,
						      "id", b * 100 + i, "batch", b, "v", "payload"));
	return rows;
}

/* rows per batch id in the table at dir, checking the partitions' counts
 * agree with the rows found. */
static void count_batches(const char *dir, int *per_batch, int nb)
{
	char msg[512];
	struct ptable *t;
	cr_assert_eq(ptable_open(&t, dir, "t", msg, sizeof(msg)), 0, "%s", msg);
	json_t *res;
	cr_assert_eq(ptable_query(t, NULL, PTABLE_QUERY_MAX, NULL, &res, msg, sizeof(msg)), 0, "%s", msg);
	memset(per_batch, 0, sizeof(int) * (size_t)nb);
	json_t *r;
	size_t k;
	json_array_foreach(json_object_get(res, "rows"), k, r) {
		int b = (int)json_integer_value(json_object_get(r, "batch"));
		cr_assert(b >= 0 && b < nb);
		per_batch[b]++;
	}
	json_t *info;
	cr_assert_eq(ptable_info(t, &info, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq((size_t)json_integer_value(json_object_get(info, "rows")),
		     json_array_size(json_object_get(res, "rows")), "row counts after recovery");
	json_decref(info);
	json_decref(res);
	cr_assert_eq(ptable_close(t), 0);
}

static void crash_between_partitions(const char *pk, size_t at)
{
	snprintf(image, sizeof(image), "%s/image", tdir);
	crash_at = at;
	hook_calls = 0;
	struct ptable *t = make_table(pk);
	char msg[512];
	json_t *res, *rows = batch_rows(0);
	uint64_t bytes;
	cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(res);
	json_decref(rows);
	ptable_set_write_hook(t, image_hook, NULL);
	rows = batch_rows(1);
	cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(res);
	json_decref(rows);
	cr_assert_eq(hook_calls, 4, "hook after the intent and after each of 3 partitions");
	cr_assert_eq(ptable_close(t), 0);

	/* The image: batch 0 whole, batch 1 written to `at` of 3 partitions,
	 * its intent durable. Opening it completes batch 1. */
	int per[2];
	count_batches(image, per, 2);
	cr_assert_eq(per[0], 9);
	cr_assert_eq(per[1], 9, "crash after %zu of 3 partitions: %d of 9 rows of the insert", at, per[1]);
	/* Again: nothing changes (done, or replayed idempotently). */
	count_batches(image, per, 2);
	cr_assert(per[0] == 9 && per[1] == 9);
}

Test(intent, crash_after_intent_rolls_forward, .init = setup, .fini = teardown)
{
	crash_between_partitions(NULL, 0);
}

Test(intent, crash_after_one_of_three_partitions_rolls_forward, .init = setup, .fini = teardown)
{
	crash_between_partitions(NULL, 1);
}

Test(intent, crash_after_two_of_three_partitions_rolls_forward_pk, .init = setup, .fini = teardown)
{
	crash_between_partitions("id", 2);
}

Test(intent, replay_is_idempotent, .init = setup, .fini = teardown)
{
	/* The image after all 3 partitions, before DONE: replaying puts every
	 * row again. With a primary key and with generated row ids the rows
	 * and their counts stay the same, however often it replays. */
	for (int pk = 0; pk < 2; pk++) {
		snprintf(image, sizeof(image), "%s/image", tdir);
		crash_at = 3;
		struct ptable *t = make_table(pk ? "id" : NULL);
		ptable_set_write_hook(t, image_hook, NULL);
		char msg[512];
		json_t *res, *rows = batch_rows(0);
		uint64_t bytes;
		cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), 0, "%s", msg);
		json_decref(res);
		json_decref(rows);
		cr_assert_eq(ptable_close(t), 0);
		char saved[400], cmd[1000];
		snprintf(saved, sizeof(saved), "%s/INTENT.saved", tdir);
		snprintf(cmd, sizeof(cmd), "cp '%s/INTENT.log' '%s'", image, saved);
		cr_assert_eq(system(cmd), 0);
		for (int round = 0; round < 3; round++) {
			/* pending again: the saved log has no DONE */
			snprintf(cmd, sizeof(cmd), "cp '%s' '%s/INTENT.log'", saved, image);
			cr_assert_eq(system(cmd), 0);
			int per[1];
			count_batches(image, per, 1);
			cr_assert_eq(per[0], 9, "round %d, pk %d", round, pk);
		}
		snprintf(cmd, sizeof(cmd), "rm -rf '%s/t' '%s' '%s'", tdir, image, saved);
		cr_assert_eq(system(cmd), 0);
	}
}

Test(intent, failed_partition_write_is_completed_before_the_next_query, .init = setup,
     .fini = teardown)
{
	crash_at = 1;
	struct ptable *t = make_table(NULL);
	ptable_set_write_hook(t, fail_hook, NULL);
	char msg[512];
	json_t *res = NULL, *rows = batch_rows(0);
	uint64_t bytes;
	cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), STRATA_EIO);
	cr_assert(strstr(msg, "completed"), "%s", msg);
	json_decref(rows);
	ptable_set_write_hook(t, NULL, NULL);
	/* The query completes it first: all 9 rows, never 3. */
	cr_assert_eq(ptable_query(t, NULL, PTABLE_QUERY_MAX, NULL, &res, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(json_array_size(json_object_get(res, "rows")), 9);
	json_decref(res);
	json_t *info;
	cr_assert_eq(ptable_info(t, &info, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(json_integer_value(json_object_get(info, "rows")), 9);
	json_decref(info);
	/* And the next insert goes on normally. */
	rows = batch_rows(1);
	cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(res);
	json_decref(rows);
	cr_assert_eq(ptable_close(t), 0);
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/t", tdir);
	int per[2];
	count_batches(dir, per, 2);
	cr_assert(per[0] == 9 && per[1] == 9);
}

/* ---- every operation completes a pending insert first --------------------- */

enum first_op { FIRST_INFO, FIRST_PARTITIONS, FIRST_PARTITION_FOR, FIRST_QUERY, FIRST_INSERT,
		FIRST_ADD, FIRST_DROP, FIRST_N };
static const char *const first_name[FIRST_N] = {"info", "partitions", "partition_for", "query",
						"insert", "add partition", "drop partition"};

/* Whether a crash at this moment would leave an intent pending: opens a
 * copy of the table's intent log (the table keeps its own open). */
static bool pending_on_disk(const char *table_dir)
{
	char probe[300], cmd[1000];
	snprintf(probe, sizeof(probe), "%s/probe", tdir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s' && cp '%s/%s' '%s/'", probe, probe,
		 table_dir, INTENT_FILE, probe);
	cr_assert_eq(system(cmd), 0);
	struct intent_log *l;
	struct intent_recovery rec;
	cr_assert_eq(intent_log_open(&l, probe, &rec), 0);
	cr_assert_eq(intent_log_close(l), 0);
	return rec.pending;
}

/* Batch 0 inserted; batch 1 failed after `after` of its 3 partitions, its
 * intent left pending. */
static void fail_insert(struct ptable *t, size_t after)
{
	char msg[512];
	json_t *res = NULL, *rows = batch_rows(0);
	uint64_t bytes;
	cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), 0, "%s", msg);
	json_decref(res);
	json_decref(rows);
	crash_at = after;
	ptable_set_write_hook(t, fail_hook, NULL);
	rows = batch_rows(1);
	cr_assert_eq(ptable_insert(t, rows, &res, &bytes, msg, sizeof(msg)), STRATA_EIO);
	json_decref(rows);
}

/* The partitions' row counts in a list of partitions. */
static void assert_counts(const json_t *parts, const uint64_t *want, size_t n, const char *what)
{
	cr_assert_eq(json_array_size(parts), n, "%s: %zu partitions", what, json_array_size(parts));
	for (size_t i = 0; i < n; i++)
		cr_assert_eq((uint64_t)json_integer_value(json_object_get(json_array_get(parts, i), "rows")),
			     want[i], "%s: partition %zu", what, i);
}

/* Runs op on t as its first operation since the failed insert; 0 or its error. */
static int run_first(struct ptable *t, enum first_op op, char *msg, size_t msglen)
{
	json_t *res = NULL, *rows, *v;
	uint64_t bytes, dropped = 0;
	static const uint64_t six[3] = {6, 6, 6};
	int rv;
	switch (op) {
	case FIRST_INFO:
		if ((rv = ptable_info(t, &res, msg, msglen)) == 0) {
			cr_assert_eq(json_integer_value(json_object_get(res, "rows")), 18);
			assert_counts(json_object_get(res, "partitions"), six, 3, "info");
		}
		break;
	case FIRST_PARTITIONS:
		if ((rv = ptable_partitions_json(t, &res, msg, msglen)) == 0)
			assert_counts(res, six, 3, "partitions");
		break;
	case FIRST_PARTITION_FOR:
		v = json_integer(150);
		if ((rv = ptable_partition_for(t, v, NULL, &res, msg, msglen)) == 0)
			cr_assert_str_eq(json_string_value(json_object_get(res, "partition")), "b");
		json_decref(v);
		break;
	case FIRST_QUERY:
		if ((rv = ptable_query(t, NULL, PTABLE_QUERY_MAX, NULL, &res, msg, msglen)) == 0)
			cr_assert_eq(json_array_size(json_object_get(res, "rows")), 18);
		break;
	case FIRST_INSERT:
		rows = batch_rows(2);
		rv = ptable_insert(t, rows, &res, &bytes, msg, msglen);
		json_decref(rows);
		break;
	case FIRST_ADD:
		v = json_pack("{s:i, s:i}", "from", 300, "to", 400);
		rv = ptable_add_partition(t, 4, "d", v, &res, msg, msglen);
		json_decref(v);
		break;
	case FIRST_DROP:
		/* c held 3 rows of batch 0 and 3 of batch 1: all 6 counted. */
		if ((rv = ptable_drop_partition(t, 3, &dropped, msg, msglen)) == 0)
			cr_assert_eq(dropped, 6);
		break;
	default:
		cr_assert_fail("op %d", op);
	}
	json_decref(res);
	return rv;
}

Test(intent, every_operation_completes_a_failed_insert_first, .init = setup, .fini = teardown)
{
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/t", tdir);
	for (size_t after = 0; after < 3; after++) {
		for (int op = 0; op < FIRST_N; op++) {
			struct ptable *t = make_table(NULL);
			fail_insert(t, after);
			cr_assert(pending_on_disk(dir));
			char msg[512] = "";
			cr_assert_eq(run_first(t, (enum first_op)op, msg, sizeof(msg)), 0,
				     "failed after %zu partitions, then %s: %s", after, first_name[op], msg);
			cr_assert(!pending_on_disk(dir), "failed after %zu partitions, then %s: the insert "
				  "is still pending", after, first_name[op]);
			/* Every row of batch 1 is in the table, whatever the op. */
			json_t *res;
			cr_assert_eq(ptable_query(t, NULL, PTABLE_QUERY_MAX, NULL, &res, msg, sizeof(msg)), 0);
			size_t b1 = 0, k;
			json_t *r;
			json_array_foreach(json_object_get(res, "rows"), k, r)
				b1 += json_integer_value(json_object_get(r, "batch")) == 1;
			cr_assert_eq(b1, op == FIRST_DROP ? 6u : 9u, "%s after %zu", first_name[op], after);
			json_decref(res);
			cr_assert_eq(ptable_close(t), 0);
			char cmd[400];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			cr_assert_eq(system(cmd), 0);
		}
	}
}

Test(intent, an_insert_that_cannot_be_completed_is_an_error_for_every_operation, .init = setup,
     .fini = teardown)
{
	char dir[300];
	snprintf(dir, sizeof(dir), "%s/t", tdir);
	struct ptable *t = make_table(NULL);
	fail_insert(t, 1);
	/* Partition c (id 3) cannot be written: the roll-forward fails there. */
	struct file_fault f = {.path_contains = "/t/3/", .ops = FILE_OP_WRITE,
			       .times = FILE_FAULT_FOREVER, .kind = FILE_FAULT_ERROR, .errnum = EIO};
	cr_assert_eq(file_fault_inject(&f), 0);
	for (int op = 0; op < FIRST_N; op++) {
		char msg[512] = "";
		int rv = run_first(t, (enum first_op)op, msg, sizeof(msg));
		cr_assert_neq(rv, 0, "%s answered while the insert cannot be completed", first_name[op]);
		cr_assert(strstr(msg, "could not be completed"), "%s: %s", first_name[op], msg);
		cr_assert(strstr(msg, "partition 'c'"), "%s: %s", first_name[op], msg);
		cr_assert(pending_on_disk(dir), "%s", first_name[op]);
	}
	cr_assert_gt(file_fault_fired(), 0);
	file_fault_clear();
	/* c's tree stays failed (its WAL write failed) until it is reopened:
	 * the close cannot complete the insert either, the next open does. */
	(void)ptable_close(t);
	cr_assert(pending_on_disk(dir));
	int per[2];
	count_batches(dir, per, 2);
	cr_assert(per[0] == 9 && per[1] == 9, "%d %d", per[0], per[1]);
	cr_assert(!pending_on_disk(dir));
}

/* Through the catalog: the table list, every partition, drop table. */
Test(intent, catalog_reads_and_drop_table_complete_a_failed_insert_first, .init = setup,
     .fini = teardown)
{
	for (int op = 0; op < 3; op++) {
		char data[300], msg[512] = "", cmd[400];
		snprintf(data, sizeof(data), "%s/data", tdir);
		cr_assert_eq(mkdir(data, 0700), 0);
		struct partitions *p;
		cr_assert_eq(partitions_open(&p, data, msg, sizeof(msg)), 0, "%s", msg);
		json_error_t je;
		json_t *spec = json_loads("{\"name\":\"t\",\"key\":\"day\",\"strategy\":\"range\",\"partitions\":["
					  "{\"name\":\"a\",\"from\":0,\"to\":100},{\"name\":\"b\",\"from\":100,\"to\":200},"
					  "{\"name\":\"c\",\"from\":200,\"to\":300}]}", 0, &je);
		json_t *info, *res;
		cr_assert_eq(partitions_create_table(p, spec, NULL, 0, &info, msg, sizeof(msg)), 0, "%s", msg);
		json_decref(info);
		json_decref(spec);
		struct ptable *t;
		cr_assert_eq(partitions_acquire(p, "t", &t), 0);
		fail_insert(t, 1);
		partitions_release(p);
		static const uint64_t six[3] = {6, 6, 6};
		uint64_t rows = 0;
		if (op == 0) {
			cr_assert_eq(partitions_list(p, &res, msg, sizeof(msg)), 0, "%s", msg);
			json_t *one = json_array_get(res, 0);
			cr_assert_eq(json_integer_value(json_object_get(one, "rows")), 18);
			assert_counts(json_object_get(one, "partitions"), six, 3, "list");
			json_decref(res);
		} else if (op == 1) {
			cr_assert_eq(partitions_all(p, &res, msg, sizeof(msg)), 0, "%s", msg);
			assert_counts(res, six, 3, "all");
			json_decref(res);
		} else {
			cr_assert_eq(partitions_drop_table(p, "t", &rows, msg, sizeof(msg)), 0, "%s", msg);
			cr_assert_eq(rows, 18);
		}
		cr_assert_eq(partitions_close(p), 0);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data);
		cr_assert_eq(system(cmd), 0);
	}
}
