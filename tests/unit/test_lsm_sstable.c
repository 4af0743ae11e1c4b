/*
 * tests/unit/test_lsm_sstable.c — SSTable round trips (raw and LZ4) and
 * checksum verification, directly and through a tree.
 */
#include "test_lsm_util.h"

#include <fcntl.h>

#include "core/lsm_cache.h"
#include "core/lsm_coding.h"
#include "core/lsm_sstable.h"

TestSuite(lsm_sstable, .init = tdir_setup, .fini = tdir_teardown, .timeout = 60);

#define N 5000

static void key_of(int i, char *k, size_t *kl) { *kl = (size_t)sprintf(k, "key%07d", i * 3); }

static void write_table(const char *path, bool compress, struct lsm_sst_info *info)
{
	struct lsm_sst_opts o = {.block_bytes = 4096, .bloom_bits = 10, .compress = compress};
	struct lsm_sst_writer *w;
	CHECK_OK(lsm_sst_writer_open(&w, path, &o));
	char k[32], v[128];
	for (int i = 0; i < N; i++) {
		size_t kl;
		key_of(i, k, &kl);
		int type = i % 10 == 9 ? LSM_TYPE_DEL : LSM_TYPE_PUT;
		size_t vl = (size_t)snprintf(v, sizeof(v), "value %d repeated repeated repeated", i);
		CHECK_OK(lsm_sst_writer_add(w, k, kl, type, v, vl));
	}
	/* keys must ascend */
	cr_assert_eq(lsm_sst_writer_add(w, "a", 1, LSM_TYPE_PUT, "", 0), STRATA_EBAD_REQUEST);
	CHECK_OK(lsm_sst_writer_finish(w, info));
}

static void round_trip(bool compress, bool map, struct lsm_cache *cache)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/t.sst", tdir);
	struct lsm_sst_info info;
	write_table(path, compress, &info);
	cr_assert_eq(info.entries, N);
	cr_assert_eq(info.tombstones, N / 10);
	cr_assert(info.slen == 10 && memcmp(info.smallest, "key0000000", 10) == 0);
	struct lsm_sst *r;
	CHECK_OK(lsm_sst_open_ex(&r, path, map));
	cr_assert_eq(lsm_sst_mapped(r), map);
	if (cache)
		lsm_sst_set_cache(r, cache);
	cr_assert_eq(lsm_sst_entries(r), N);
	cr_assert_eq(lsm_sst_file_size(r), info.size);
	char k[32], v[128];
	for (int i = 0; i < N; i++) {
		size_t kl;
		key_of(i, k, &kl);
		int type;
		void *val;
		size_t vl;
		CHECK_OK(lsm_sst_get(r, k, kl, &type, &val, &vl));
		if (i % 10 == 9) {
			cr_assert_eq(type, LSM_TYPE_DEL);
			cr_assert_null(val);
		} else {
			size_t want = (size_t)snprintf(v, sizeof(v), "value %d repeated repeated repeated", i);
			cr_assert_eq(type, LSM_TYPE_PUT);
			cr_assert(vl == want && memcmp(val, v, vl) == 0, "value of %d", i);
			free(val);
		}
		/* a key between two keys is absent */
		char miss[32];
		size_t ml = (size_t)sprintf(miss, "key%07d", i * 3 + 1);
		cr_assert_eq(lsm_sst_get(r, miss, ml, &type, &val, &vl), STRATA_ENOT_FOUND);
	}
	/* the cursor visits every entry in order; seek lands on the next key */
	struct lsm_cursor *c;
	CHECK_OK(lsm_sst_cursor(r, &c));
	CHECK_OK(lsm_cursor_seek(c, NULL, 0));
	int i = 0;
	while (lsm_cursor_valid(c)) {
		struct lsm_entry e;
		lsm_cursor_entry(c, &e);
		size_t kl;
		key_of(i, k, &kl);
		cr_assert(e.klen == kl && memcmp(e.key, k, kl) == 0, "entry %d", i);
		CHECK_OK(lsm_cursor_next(c));
		i++;
	}
	cr_assert_eq(i, N);
	CHECK_OK(lsm_cursor_seek(c, "key0000100", 10)); /* 100 is not a multiple of 3 */
	cr_assert(lsm_cursor_valid(c));
	struct lsm_entry e;
	lsm_cursor_entry(c, &e);
	cr_assert(e.klen == 10 && memcmp(e.key, "key0000102", 10) == 0);
	CHECK_OK(lsm_cursor_seek(c, "zzz", 3));
	cr_assert(!lsm_cursor_valid(c));
	lsm_cursor_free(c);
	lsm_sst_close(r);
	lsm_sst_info_free(&info);
}

Test(lsm_sstable, round_trip_raw) { round_trip(false, false, NULL); }
Test(lsm_sstable, round_trip_lz4) { round_trip(true, false, NULL); }
Test(lsm_sstable, round_trip_raw_mapped) { round_trip(false, true, NULL); }
Test(lsm_sstable, round_trip_lz4_mapped) { round_trip(true, true, NULL); }
Test(lsm_sstable, round_trip_cached)
{
	for (int m = 0; m < 2; m++)
		for (int z = 0; z < 2; z++) {
			struct lsm_cache *c = lsm_cache_new(64 << 10); /* evicts */
			cr_assert_not_null(c);
			round_trip(z, m, c);
			lsm_cache_free(c);
		}
}

Test(lsm_sstable, lz4_makes_compressible_tables_smaller)
{
	char p1[400], p2[400];
	snprintf(p1, sizeof(p1), "%s/raw.sst", tdir);
	snprintf(p2, sizeof(p2), "%s/lz4.sst", tdir);
	struct lsm_sst_info a, b;
	write_table(p1, false, &a);
	write_table(p2, true, &b);
	cr_log_info("raw %lu bytes, lz4 %lu bytes", (unsigned long)a.size, (unsigned long)b.size);
	cr_assert_lt(b.size, a.size * 3 / 4);
	lsm_sst_info_free(&a);
	lsm_sst_info_free(&b);
}

static void flip_byte(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	unsigned char c;
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

Test(lsm_sstable, flipped_byte_in_data_block_is_corrupt)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/t.sst", tdir);
	struct lsm_sst_info info;
	write_table(path, true, &info);
	lsm_sst_info_free(&info);
	flip_byte(path, 100); /* inside the first data block */
	struct lsm_sst *r;
	CHECK_OK(lsm_sst_open(&r, path)); /* footer, index and filter are intact */
	int type;
	void *val = NULL;
	size_t vl;
	uint64_t before = lsm_sst_corruptions();
	cr_assert_eq(lsm_sst_get(r, "key0000000", 10, &type, &val, &vl), STRATA_ECORRUPT);
	cr_assert_null(val);
	cr_assert_eq(lsm_sst_corruptions(), before + 1);
	/* other blocks still read */
	char k[32];
	size_t kl;
	key_of(N - 2, k, &kl);
	CHECK_OK(lsm_sst_get(r, k, kl, &type, &val, &vl));
	free(val);
	lsm_sst_close(r);
}

Test(lsm_sstable, corrupt_footer_or_truncated_file_fails_open)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/t.sst", tdir);
	struct lsm_sst_info info;
	write_table(path, false, &info);
	flip_byte(path, (long)info.size - 20);
	struct lsm_sst *r;
	cr_assert_eq(lsm_sst_open(&r, path), STRATA_ECORRUPT);
	cr_assert_eq(truncate(path, (off_t)info.size / 2), 0);
	cr_assert_eq(lsm_sst_open(&r, path), STRATA_ECORRUPT);
	cr_assert_eq(truncate(path, 10), 0);
	cr_assert_eq(lsm_sst_open(&r, path), STRATA_ECORRUPT);
	lsm_sst_info_free(&info);
}

static int count_cb(void *a, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)a;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	return 0;
}

static void tree_corrupt(bool no_mmap)
{
	struct lsm_options o = {.no_compression = true, .l0_compaction_trigger = 100,
				.no_mmap_reads = no_mmap};
	struct lsm *t;
	CHECK_OK(lsm_open(&t, tree, "c", &o));
	char k[32], v[128];
	for (int i = 0; i < 2000; i++) {
		size_t kl;
		key_of(i, k, &kl);
		size_t vl = (size_t)snprintf(v, sizeof(v), "value-%d", i);
		CHECK_OK(lsm_put(t, k, kl, v, vl, NULL));
	}
	CHECK_OK(lsm_close(t)); /* flushes: one L0 table */
	char sst[600];
	cr_assert(first_file(tree, ".sst", sst, sizeof(sst), false));
	flip_byte(sst, 30); /* first data block: the first keys */
	CHECK_OK(lsm_open(&t, tree, "c", &o));
	void *val = NULL;
	size_t vl;
	cr_assert_eq(lsm_get(t, "key0000000", 10, &val, &vl), STRATA_ECORRUPT);
	cr_assert_null(val);
	cr_assert_eq(lsm_get(t, "key0000003", 10, &val, &vl), STRATA_ECORRUPT);
	size_t kl;
	key_of(1999, k, &kl);
	CHECK_OK(lsm_get(t, k, kl, &val, &vl)); /* a key in a later block */
	free(val);
	size_t n;
	cr_assert_eq(lsm_scan(t, NULL, 0, NULL, 0, 0, count_cb, NULL, &n), STRATA_ECORRUPT);
	struct lsm_stats st;
	lsm_get_stats(t, &st);
	cr_assert_geq(st.corruptions, 2);
	CHECK_OK(lsm_close(t));
}

Test(lsm_sstable, tree_get_on_corrupt_block_returns_corrupt) { tree_corrupt(false); }
Test(lsm_sstable, tree_get_on_corrupt_block_returns_corrupt_pread) { tree_corrupt(true); }

/* A mapped table checks the CRC of a raw block on every read, not once: a
 * byte that goes bad after a good read (the mapping is shared, so the flip
 * is seen) is a corrupt error on the next one, and good again once fixed.
 * Blocks stored raw never enter the cache when mapped. */
Test(lsm_sstable, mapped_blocks_verified_on_every_read)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/t.sst", tdir);
	struct lsm_sst_info info;
	write_table(path, false, &info);
	lsm_sst_info_free(&info);
	struct lsm_cache *cache = lsm_cache_new(1 << 20);
	struct lsm_sst *r;
	CHECK_OK(lsm_sst_open_ex(&r, path, true));
	cr_assert(lsm_sst_mapped(r));
	lsm_sst_set_cache(r, cache);
	int type;
	void *val = NULL;
	size_t vl;
	CHECK_OK(lsm_sst_get(r, "key0000000", 10, &type, &val, &vl));
	free(val);
	val = NULL;
	cr_assert_eq(lsm_cache_usage(cache), 0);
	struct lsm_cursor *c;
	CHECK_OK(lsm_sst_cursor(r, &c));
	flip_byte(path, 100);
	uint64_t before = lsm_sst_corruptions();
	cr_assert_eq(lsm_sst_get(r, "key0000000", 10, &type, &val, &vl), STRATA_ECORRUPT);
	cr_assert_null(val);
	cr_assert_eq(lsm_cursor_seek(c, NULL, 0), STRATA_ECORRUPT);
	cr_assert(!lsm_cursor_valid(c));
	cr_assert_eq(lsm_sst_corruptions(), before + 2);
	flip_byte(path, 100); /* back as it was */
	CHECK_OK(lsm_sst_get(r, "key0000000", 10, &type, &val, &vl));
	free(val);
	CHECK_OK(lsm_cursor_seek(c, NULL, 0));
	cr_assert(lsm_cursor_valid(c));
	lsm_cursor_free(c);
	lsm_sst_close(r);
	lsm_cache_free(cache);
}

/* A reader's mapping outlives the file's name: a table replaced (rename over
 * it, then unlinked, as compaction does) keeps serving its old contents to
 * the readers and cursors that hold it. */
Test(lsm_sstable, mapped_table_survives_replacement)
{
	char path[400], other[400];
	snprintf(path, sizeof(path), "%s/t.sst", tdir);
	snprintf(other, sizeof(other), "%s/o.sst", tdir);
	struct lsm_sst_info info;
	write_table(path, false, &info);
	lsm_sst_info_free(&info);
	struct lsm_sst *r;
	CHECK_OK(lsm_sst_open_ex(&r, path, true));
	struct lsm_cursor *c;
	CHECK_OK(lsm_sst_cursor(r, &c));
	CHECK_OK(lsm_cursor_seek(c, NULL, 0));
	/* another table (other contents) renamed over it, then removed */
	struct lsm_sst_opts o = {.block_bytes = 4096, .bloom_bits = 10};
	struct lsm_sst_writer *w;
	CHECK_OK(lsm_sst_writer_open(&w, other, &o));
	CHECK_OK(lsm_sst_writer_add(w, "a", 1, LSM_TYPE_PUT, "x", 1));
	CHECK_OK(lsm_sst_writer_finish(w, &info));
	lsm_sst_info_free(&info);
	cr_assert_eq(rename(other, path), 0);
	cr_assert_eq(unlink(path), 0);
	int i = 0;
	char k[32];
	while (lsm_cursor_valid(c)) {
		struct lsm_entry e;
		lsm_cursor_entry(c, &e);
		size_t kl;
		key_of(i, k, &kl);
		cr_assert(e.klen == kl && memcmp(e.key, k, kl) == 0, "entry %d", i);
		CHECK_OK(lsm_cursor_next(c));
		i++;
	}
	cr_assert_eq(i, N);
	int type;
	void *val;
	size_t vl;
	size_t kl;
	key_of(N - 2, k, &kl);
	CHECK_OK(lsm_sst_get(r, k, kl, &type, &val, &vl));
	free(val);
	lsm_cursor_free(c);
	lsm_sst_close(r);
}

/* Mapped reads still pass through the file layer's fault table. */
Test(lsm_sstable, mapped_reads_take_injected_faults)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/t.sst", tdir);
	struct lsm_sst_info info;
	write_table(path, false, &info);
	lsm_sst_info_free(&info);
	struct lsm_sst *r;
	CHECK_OK(lsm_sst_open_ex(&r, path, true));
	struct file_fault f = {.ops = FILE_OP_READ, .path_contains = "t.sst",
			       .kind = FILE_FAULT_ERROR, .errnum = EIO};
	CHECK_OK(file_fault_inject(&f));
	int type;
	void *val = NULL;
	size_t vl;
	cr_assert_eq(lsm_sst_get(r, "key0000000", 10, &type, &val, &vl), STRATA_EIO);
	cr_assert_null(val);
	cr_assert_eq(file_fault_fired(), 1);
	CHECK_OK(lsm_sst_get(r, "key0000000", 10, &type, &val, &vl));
	free(val);
	lsm_sst_close(r);
}

/* A mapped table whose file is truncated under the reader (a disk error on
 * a mapped page looks the same: SIGBUS on the touch): the read is
 * STRATA_EIO, not a crash and not corrupt data, and the reader keeps
 * answering the same way; a pread table reports the short file as corrupt. */
static void truncated_under_reader(bool map)
{
	char path[400];
	snprintf(path, sizeof(path), "%s/t.sst", tdir);
	struct lsm_sst_info info;
	write_table(path, false, &info);
	lsm_sst_info_free(&info);
	struct lsm_sst *r;
	CHECK_OK(lsm_sst_open_ex(&r, path, map));
	cr_assert_eq(lsm_sst_mapped(r), map);
	cr_assert_eq(truncate(path, 0), 0);
	int want = map ? STRATA_EIO : STRATA_ECORRUPT;
	for (int i = 0; i < 2; i++) {
		int type;
		void *val = NULL;
		size_t vl;
		cr_assert_eq(lsm_sst_get(r, "key0000000", 10, &type, &val, &vl), want);
		cr_assert_null(val);
		struct lsm_cursor *c;
		CHECK_OK(lsm_sst_cursor(r, &c));
		cr_assert_eq(lsm_cursor_seek(c, NULL, 0), want);
		cr_assert(!lsm_cursor_valid(c));
		lsm_cursor_free(c);
	}
	lsm_sst_close(r);
}

Test(lsm_sstable, mapped_table_truncated_under_reader_is_eio) { truncated_under_reader(true); }
Test(lsm_sstable, pread_table_truncated_under_reader_is_corrupt) { truncated_under_reader(false); }
