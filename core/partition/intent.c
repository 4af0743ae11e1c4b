/*
 * core/partition/intent.c — see intent.h.
 *
 * States of the one slot (cur_seq = the INTENT at offset 0):
 *   EMPTY     no intent in the file          begin → PENDING
 *   PENDING   INTENT at 0, no DONE after it  done → COMPLETE
 *   COMPLETE  INTENT at 0 and its DONE       begin → PENDING (overwrites)
 * `pending` records which; begin asserts the slot is not PENDING (the
 * caller rolls a pending intent forward first).
 */
#include "core/partition/intent.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/file.h"
#include "core/lsm_coding.h"
#include "strata/error.h"

struct intent_log {
	struct sfile *f;
	uint64_t seq;      /* last seq assigned or found */
	uint64_t cur_end;  /* bytes of the INTENT at 0 (0: none) */
	uint64_t size;     /* file size as far as we wrote it */
	bool pending;      /* the INTENT at 0 has no DONE yet */
	uint8_t *cur;      /* while pending: the INTENT's bytes (cur_end) */
};

/* ---- records ------------------------------------------------------------- */

int intent_encode(enum intent_kind kind, uint64_t seq, const struct intent_op *ops, size_t n,
		  uint8_t **out, size_t *len)
{
	if ((kind != INTENT_KIND_INTENT && kind != INTENT_KIND_DONE) ||
	    (kind == INTENT_KIND_DONE && n) || (n && !ops))
		return STRATA_EBAD_REQUEST;
	uint64_t total = INTENT_HDR + INTENT_FIXED + (kind == INTENT_KIND_INTENT ? 4 : 0);
	for (size_t i = 0; i < n; i++) {
		if ((ops[i].klen && !ops[i].key) || (ops[i].vlen && !ops[i].val))
			return STRATA_EBAD_REQUEST;
		total += INTENT_OP_FIXED + (uint64_t)ops[i].klen + ops[i].vlen;
		if (total > INTENT_REC_MAX)
			return STRATA_ETOO_LARGE;
	}
	if (n > UINT32_MAX)
		return STRATA_ETOO_LARGE;
	uint8_t *b = malloc((size_t)total);
	if (!b)
		return STRATA_ENOMEM;
	uint8_t *p = b + INTENT_HDR;
	lsm_put_u32(p, INTENT_MAGIC);
	p[4] = (uint8_t)kind;
	p[5] = p[6] = p[7] = 0;
	lsm_put_u64(p + 8, seq);
	p += INTENT_FIXED;
	if (kind == INTENT_KIND_INTENT) {
		lsm_put_u32(p, (uint32_t)n);
		p += 4;
	}
	for (size_t i = 0; i < n; i++) {
		lsm_put_u64(p, ops[i].part_id);
		lsm_put_u32(p + 8, ops[i].klen);
		lsm_put_u32(p + 12, ops[i].vlen);
		p += INTENT_OP_FIXED;
		if (ops[i].klen)
			memcpy(p, ops[i].key, ops[i].klen);
		p += ops[i].klen;
		if (ops[i].vlen)
			memcpy(p, ops[i].val, ops[i].vlen);
		p += ops[i].vlen;
	}
	assert((uint64_t)(p - b) == total);
	lsm_put_u32(b + 4, (uint32_t)(total - INTENT_HDR));
	lsm_put_u32(b, crc32c(0, b + 4, (size_t)total - 4));
	*out = b;
	*len = (size_t)total;
	return 0;
}

int intent_decode(const uint8_t *buf, size_t len, struct intent_rec *rec, size_t *used)
{
	memset(rec, 0, sizeof(*rec));
	if (!buf || len < INTENT_HDR)
		return STRATA_ENOT_FOUND;
	uint32_t body = lsm_get_u32(buf + 4);
	if (body > INTENT_REC_MAX - INTENT_HDR)
		return STRATA_ECORRUPT;
	if (body > len - INTENT_HDR)
		return STRATA_ENOT_FOUND;
	if (crc32c(0, buf + 4, (size_t)body + 4) != lsm_get_u32(buf))
		return STRATA_ECORRUPT;
	/* From here the bytes are what was written: a bad field is a bug or
	 * a deliberate forgery, still an error. */
	if (body < INTENT_FIXED)
		return STRATA_ECORRUPT;
	const uint8_t *p = buf + INTENT_HDR, *end = p + body;
	uint8_t kind = p[4];
	if (lsm_get_u32(p) != INTENT_MAGIC || (kind != INTENT_KIND_INTENT && kind != INTENT_KIND_DONE))
		return STRATA_ECORRUPT;
	rec->kind = (enum intent_kind)kind;
	rec->seq = lsm_get_u64(p + 8);
	p += INTENT_FIXED;
	if (kind == INTENT_KIND_DONE) {
		if (p != end)
			return STRATA_ECORRUPT;
		*used = INTENT_HDR + body;
		return 0;
	}
	if (end - p < 4)
		return STRATA_ECORRUPT;
	uint32_t n = lsm_get_u32(p);
	p += 4;
	if (n > (size_t)(end - p) / INTENT_OP_FIXED)
		return STRATA_ECORRUPT;
	rec->ops = calloc(n ? n : 1, sizeof(*rec->ops));
	if (!rec->ops)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (end - p < (ptrdiff_t)INTENT_OP_FIXED)
			goto corrupt;
		struct intent_op *op = &rec->ops[i];
		op->part_id = lsm_get_u64(p);
		op->klen = lsm_get_u32(p + 8);
		op->vlen = lsm_get_u32(p + 12);
		p += INTENT_OP_FIXED;
		if ((uint64_t)op->klen + op->vlen > (uint64_t)(end - p))
			goto corrupt;
		op->key = p;
		op->val = p + op->klen;
		p += op->klen + op->vlen;
	}
	if (p != end)
		goto corrupt;
	rec->n = n;
	*used = INTENT_HDR + body;
	return 0;
corrupt:
	free(rec->ops);
	memset(rec, 0, sizeof(*rec));
	return STRATA_ECORRUPT;
}

void intent_rec_clear(struct intent_rec *rec)
{
	if (!rec)
		return;
	free(rec->ops);
	free(rec->buf);
	memset(rec, 0, sizeof(*rec));
}

/* ---- the log ------------------------------------------------------------- */

/* Reads the record at off (at most INTENT_REC_MAX bytes, up to the file's
 * end) into *rec, which then owns the buffer. STRATA_ENOT_FOUND /
 * STRATA_ECORRUPT as intent_decode; file errors. */
static int read_record(struct sfile *f, uint64_t off, uint64_t size, struct intent_rec *rec,
		       size_t *used)
{
	memset(rec, 0, sizeof(*rec));
	if (size <= off || size - off < INTENT_HDR)
		return STRATA_ENOT_FOUND;
	uint8_t hdr[INTENT_HDR];
	int rv = file_pread(f, hdr, sizeof(hdr), off);
	if (rv)
		return rv;
	uint32_t body = lsm_get_u32(hdr + 4);
	if (body > INTENT_REC_MAX - INTENT_HDR)
		return STRATA_ECORRUPT;
	if (body > size - off - INTENT_HDR)
		return STRATA_ENOT_FOUND;
	size_t len = INTENT_HDR + (size_t)body;
	uint8_t *b = malloc(len);
	if (!b)
		return STRATA_ENOMEM;
	if ((rv = file_pread(f, b, len, off)) != 0 || (rv = intent_decode(b, len, rec, used)) != 0) {
		free(b);
		return rv;
	}
	rec->buf = b;
	return 0;
}

static int recover(struct intent_log *l, const char *path, struct intent_recovery *info)
{
	uint64_t size;
	int rv = file_size(l->f, &size);
	if (rv)
		return rv;
	l->size = size;
	struct intent_rec r;
	size_t used = 0;
	rv = read_record(l->f, 0, size, &r, &used);
	if (rv == 0 && r.kind != INTENT_KIND_INTENT) {
		intent_rec_clear(&r);
		rv = STRATA_ECORRUPT;
	}
	if (rv == STRATA_ENOT_FOUND || rv == STRATA_ECORRUPT) {
		/* Empty, or a torn INTENT whose fdatasync never returned: no
		 * partition was written for it. Start from an empty file, so
		 * no stale bytes can follow a later record. */
		if (size > 0) {
			info->torn = true;
			fprintf(stderr, "stratad: %s: a torn intent record (never acknowledged) "
				"was discarded\n", path);
			if ((rv = file_truncate(l->f, 0)) != 0 || (rv = file_sync(l->f)) != 0)
				return rv;
		}
		l->size = 0;
		return 0;
	}
	if (rv)
		return rv;
	l->seq = r.seq;
	l->cur_end = used;
	struct intent_rec done;
	size_t dused;
	int drv = read_record(l->f, used, size, &done, &dused);
	bool is_done = drv == 0 && done.kind == INTENT_KIND_DONE && done.seq == r.seq;
	intent_rec_clear(&done);
	if (drv != 0 && drv != STRATA_ENOT_FOUND && drv != STRATA_ECORRUPT) {
		intent_rec_clear(&r);
		return drv;
	}
	if (!is_done) {
		l->pending = true;
		l->cur = r.buf; /* kept until intent_log_done */
		r.buf = NULL;
		info->pending = true;
		info->seq = r.seq;
	}
	intent_rec_clear(&r);
	return 0;
}

int intent_log_open(struct intent_log **out, const char *dir, struct intent_recovery *rec_info)
{
	struct intent_recovery scratch;
	struct intent_recovery *info = rec_info ? rec_info : &scratch;
	memset(info, 0, sizeof(*info));
	struct intent_log *l = calloc(1, sizeof(*l));
	if (!l)
		return STRATA_ENOMEM;
	char path[4096];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, INTENT_FILE) >= sizeof(path)) {
		free(l);
		return STRATA_EBAD_REQUEST;
	}
	int rv = file_open(&l->f, path, FILE_CREATE, "intent");
	if (rv)
		goto fail_free;
	if ((rv = file_sync_dir(dir)) != 0 || (rv = recover(l, path, info)) != 0)
		goto fail_close;
	*out = l;
	return 0;
fail_close:
	(void)file_close(l->f); /* the earlier error is the one to report */
fail_free:
	free(l);
	return rv;
}

int intent_log_begin(struct intent_log *l, const struct intent_op *ops, size_t n, bool sync,
		     uint64_t *seq)
{
	assert(!l->pending);
	if (n == 0)
		return STRATA_EBAD_REQUEST;
	uint8_t *b;
	size_t len;
	uint64_t s = l->seq + 1;
	int rv = intent_encode(INTENT_KIND_INTENT, s, ops, n, &b, &len);
	if (rv)
		return rv;
	/* From the first byte written the slot holds this intent (or a torn
	 * one): the previous, complete intent is gone either way. */
	l->seq = s;
	l->pending = true;
	l->cur_end = len;
	rv = file_pwrite(l->f, b, len, 0);
	if (rv == 0 && len > l->size)
		l->size = len;
	if (rv == 0 && sync)
		rv = file_sync(l->f);
	if (rv) {
		/* Nothing of it may reach a partition; recovery discards it if
		 * torn and replays it (harmlessly: no partition was written
		 * after it) if whole. */
		l->pending = false;
		free(b);
		return rv;
	}
	l->cur = b;
	*seq = s;
	return 0;
}

int intent_log_done(struct intent_log *l, uint64_t seq)
{
	if (!l->pending || seq != l->seq)
		return STRATA_EBAD_REQUEST;
	l->pending = false;
	free(l->cur);
	l->cur = NULL;
	uint8_t *b;
	size_t len;
	int rv = intent_encode(INTENT_KIND_DONE, seq, NULL, 0, &b, &len);
	if (rv)
		return rv;
	rv = file_pwrite(l->f, b, len, l->cur_end);
	free(b);
	if (rv)
		return rv;
	uint64_t end = l->cur_end + len;
	if (end > l->size)
		l->size = end;
	/* Keep the log bounded: bytes after the DONE are never read. */
	if (l->size > INTENT_SHRINK_BYTES && end < l->size) {
		if ((rv = file_truncate(l->f, end)) != 0)
			return rv;
		l->size = end;
	}
	return 0;
}

bool intent_log_is_pending(const struct intent_log *l)
{
	return l->pending;
}

int intent_log_pending(const struct intent_log *l, struct intent_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	if (!l->pending)
		return STRATA_ENOT_FOUND;
	size_t used;
	return intent_decode(l->cur, (size_t)l->cur_end, rec, &used);
}

uint64_t intent_log_seq(const struct intent_log *l)
{
	return l->seq;
}

int intent_log_close(struct intent_log *l)
{
	if (!l)
		return 0;
	int rv = file_close(l->f);
	free(l->cur);
	free(l);
	return rv;
}
