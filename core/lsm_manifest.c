/*
 * core/lsm_manifest.c — see lsm_manifest.h.
 */
#include "core/lsm_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crc32c.h"
#include "core/file.h"
#include "core/lsm_coding.h"
#include "strata/error.h"

#define MANIFEST_MAGIC 0x3146494e414d4c53ull /* "SLMANIF1" */
#define MANIFEST_VERSION 1u
#define HDR 40u
#define MANIFEST_MAX (1u << 30)

int lsm_manifest_write(const char *dir, const struct lsm_manifest *m)
{
	size_t cap = HDR + 4;
	for (size_t i = 0; i < m->nfiles; i++)
		cap += 1 + 24 + 20 + m->files[i].slen + m->files[i].llen;
	uint8_t *b = malloc(cap);
	if (!b)
		return STRATA_ENOMEM;
	lsm_put_u64(b, MANIFEST_MAGIC);
	lsm_put_u32(b + 8, MANIFEST_VERSION);
	lsm_put_u32(b + 12, (uint32_t)m->nfiles);
	lsm_put_u64(b + 16, m->next_file);
	lsm_put_u64(b + 24, m->last_seq);
	lsm_put_u64(b + 32, m->log_number);
	size_t n = HDR;
	for (size_t i = 0; i < m->nfiles; i++) {
		const struct lsm_manifest_file *f = &m->files[i];
		b[n++] = (uint8_t)f->level;
		lsm_put_u64(b + n, f->number);
		lsm_put_u64(b + n + 8, f->size);
		lsm_put_u64(b + n + 16, f->entries);
		n += 24;
		n += lsm_put_varint(b + n, f->slen);
		memcpy(b + n, f->smallest, f->slen);
		n += f->slen;
		n += lsm_put_varint(b + n, f->llen);
		memcpy(b + n, f->largest, f->llen);
		n += f->llen;
	}
	lsm_put_u32(b + n, crc32c(0, b, n));
	n += 4;

	char tmp[4200], path[4200];
	snprintf(tmp, sizeof(tmp), "%s/MANIFEST.tmp", dir);
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	struct sfile *f;
	int rv = file_open(&f, tmp, FILE_CREATE | FILE_TRUNC, "manifest");
	if (rv)
		goto out;
	if ((rv = file_pwrite(f, b, n, 0)) || (rv = file_sync(f))) {
		(void)file_close(f);
		goto out_unlink;
	}
	if ((rv = file_close(f)))
		goto out_unlink;
	if (rename(tmp, path) != 0) {
		rv = strata_err_from_errno(errno);
		goto out_unlink;
	}
	rv = file_sync_dir(dir);
	goto out;
out_unlink:
	(void)remove(tmp);
out:
	free(b);
	return rv;
}

int lsm_manifest_read(const char *dir, struct lsm_manifest *m)
{
	memset(m, 0, sizeof(*m));
	char path[4200];
	snprintf(path, sizeof(path), "%s/MANIFEST", dir);
	struct sfile *f;
	int rv = file_open(&f, path, FILE_RDONLY, "manifest");
	if (rv)
		return rv;
	uint64_t size;
	uint8_t *b = NULL;
	if ((rv = file_size(f, &size)))
		goto out;
	if (size < HDR + 4 || size > MANIFEST_MAX) {
		rv = STRATA_ECORRUPT;
		goto out;
	}
	b = malloc((size_t)size);
	if (!b) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	if ((rv = file_pread(f, b, (size_t)size, 0)))
		goto out;
	size_t n = (size_t)size - 4;
	if (lsm_get_u64(b) != MANIFEST_MAGIC || lsm_get_u32(b + 8) != MANIFEST_VERSION ||
	    crc32c(0, b, n) != lsm_get_u32(b + n)) {
		rv = STRATA_ECORRUPT;
		goto out;
	}
	uint32_t nfiles = lsm_get_u32(b + 12);
	m->next_file = lsm_get_u64(b + 16);
	m->last_seq = lsm_get_u64(b + 24);
	m->log_number = lsm_get_u64(b + 32);
	if (nfiles > n / 27) {
		rv = STRATA_ECORRUPT;
		goto out;
	}
	m->files = calloc(nfiles ? nfiles : 1, sizeof(*m->files));
	if (!m->files) {
		rv = STRATA_ENOMEM;
		goto out;
	}
	const uint8_t *p = b + HDR, *end = b + n;
	for (uint32_t i = 0; i < nfiles; i++) {
		struct lsm_manifest_file *e = &m->files[i];
		uint64_t len;
		if (end - p < 25) {
			rv = STRATA_ECORRUPT;
			goto out;
		}
		e->level = *p++;
		e->number = lsm_get_u64(p);
		e->size = lsm_get_u64(p + 8);
		e->entries = lsm_get_u64(p + 16);
		p += 24;
		if (!lsm_get_varint(&p, end, &len) || len > (uint64_t)(end - p)) {
			rv = STRATA_ECORRUPT;
			goto out;
		}
		e->smallest = p;
		e->slen = (size_t)len;
		p += len;
		if (!lsm_get_varint(&p, end, &len) || len > (uint64_t)(end - p)) {
			rv = STRATA_ECORRUPT;
			goto out;
		}
		e->largest = p;
		e->llen = (size_t)len;
		p += len;
	}
	if (p != end) {
		rv = STRATA_ECORRUPT;
		goto out;
	}
	m->nfiles = nfiles;
	m->raw_ = b;
	b = NULL;
out:
	if (rv) {
		free(m->files);
		m->files = NULL;
	}
	free(b);
	int r = file_close(f);
	return rv ? rv : r;
}

void lsm_manifest_free(struct lsm_manifest *m)
{
	free(m->files);
	free(m->raw_);
	memset(m, 0, sizeof(*m));
}
