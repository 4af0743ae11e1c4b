#include "core/tiered/codec.h"

#include <lz4.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "strata/error.h"

/* One set of contexts per thread, freed by the key's destructor. */
struct codec_ctx {
	void *lz4_state;
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;
static int ctx_key_err;

static void ctx_free(void *p)
{
	struct codec_ctx *c = p;
	if (!c)
		return;
	free(c->lz4_state);
	ZSTD_freeCCtx(c->cctx);
	ZSTD_freeDCtx(c->dctx);
	free(c);
}

static void ctx_key_make(void)
{
	ctx_key_err = pthread_key_create(&ctx_key, ctx_free);
}

static struct codec_ctx *ctx_get(void)
{
	if (pthread_once(&ctx_once, ctx_key_make) != 0 || ctx_key_err != 0)
		return NULL;
	struct codec_ctx *c = pthread_getspecific(ctx_key);
	if (c)
		return c;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	if (pthread_setspecific(ctx_key, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

const char *tier_codec_name(int codec)
{
	switch (codec) {
	case TIER_CODEC_NONE: return "none";
	case TIER_CODEC_LZ4: return "lz4";
	case TIER_CODEC_ZSTD: return "zstd";
	default: return "?";
	}
}

size_t tier_codec_bound(size_t n)
{
	size_t a = (size_t)LZ4_compressBound((int)n), b = ZSTD_compressBound(n);
	size_t m = a > b ? a : b;
	return m > n ? m : n;
}

int tier_codec_compress(int codec, int level, const void *src, size_t n, void *dst, size_t cap,
			size_t *out)
{
	if (n > (size_t)LZ4_MAX_INPUT_SIZE || cap < tier_codec_bound(n))
		return STRATA_EBAD_REQUEST;
	if (codec == TIER_CODEC_NONE) {
		memcpy(dst, src, n);
		*out = n;
		return 0;
	}
	struct codec_ctx *c = ctx_get();
	if (!c)
		return STRATA_ENOMEM;
	if (codec == TIER_CODEC_LZ4) {
		if (level < TIER_LZ4_ACCEL_MIN || level > TIER_LZ4_ACCEL_MAX)
			return STRATA_EBAD_REQUEST;
		if (!c->lz4_state && !(c->lz4_state = malloc((size_t)LZ4_sizeofState())))
			return STRATA_ENOMEM;
		int r = LZ4_compress_fast_extState(c->lz4_state, src, dst, (int)n, (int)cap, level);
		if (r <= 0)
			return STRATA_EINTERNAL;
		*out = (size_t)r;
		return 0;
	}
	if (codec == TIER_CODEC_ZSTD) {
		if (level < TIER_ZSTD_LEVEL_MIN || level > TIER_ZSTD_LEVEL_MAX)
			return STRATA_EBAD_REQUEST;
		if (!c->cctx && !(c->cctx = ZSTD_createCCtx()))
			return STRATA_ENOMEM;
		size_t r = ZSTD_compressCCtx(c->cctx, dst, cap, src, n, level);
		if (ZSTD_isError(r))
			return STRATA_EINTERNAL;
		*out = r;
		return 0;
	}
	return STRATA_EBAD_REQUEST;
}

int tier_codec_decompress(int codec, const void *src, size_t n, void *dst, size_t expect)
{
	if (codec == TIER_CODEC_NONE) {
		if (n != expect)
			return STRATA_ECORRUPT;
		memcpy(dst, src, n);
		return 0;
	}
	if (n > (size_t)LZ4_MAX_INPUT_SIZE || expect > (size_t)LZ4_MAX_INPUT_SIZE)
		return STRATA_ECORRUPT;
	if (codec == TIER_CODEC_LZ4) {
		int r = LZ4_decompress_safe(src, dst, (int)n, (int)expect);
		return r >= 0 && (size_t)r == expect ? 0 : STRATA_ECORRUPT;
	}
	if (codec == TIER_CODEC_ZSTD) {
		struct codec_ctx *c = ctx_get();
		if (!c)
			return STRATA_ENOMEM;
		if (!c->dctx && !(c->dctx = ZSTD_createDCtx()))
			return STRATA_ENOMEM;
		size_t r = ZSTD_decompressDCtx(c->dctx, dst, expect, src, n);
		return !ZSTD_isError(r) && r == expect ? 0 : STRATA_ECORRUPT;
	}
	return STRATA_EBAD_REQUEST;
}
