/*
 * core/tiered/codec.h — the page codecs of the tiers: LZ4 (warm) and ZSTD
 * (cold), one page at a time, as core/tiered stores them.
 *
 * A page is compressed on its own (no dictionary, no frame: LZ4's block
 * format and a ZSTD frame without checksum, since core/tiered/segment
 * checksums every record itself). When the codec does not make a page
 * smaller, the caller stores it raw (TIER_CODEC_NONE), so a stored page is
 * never larger than its contents plus the record header.
 *
 * Contexts: compression and decompression reuse one context per thread
 * (LZ4 state, ZSTD_CCtx, ZSTD_DCtx), created on first use and freed when
 * the thread exits, so a 4 KiB page costs no allocation. Any thread.
 */
#ifndef STRATA_CORE_TIERED_CODEC_H
#define STRATA_CORE_TIERED_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum tier_codec {
	TIER_CODEC_NONE = 0,
	TIER_CODEC_LZ4 = 1,
	TIER_CODEC_ZSTD = 2,
};

#define TIER_LZ4_ACCEL_MIN 1
#define TIER_LZ4_ACCEL_MAX 65537
#define TIER_ZSTD_LEVEL_MIN 1
#define TIER_ZSTD_LEVEL_MAX 19

/* "none", "lz4", "zstd"; "?" otherwise. */
const char *tier_codec_name(int codec);

/* Worst-case compressed size of n bytes (any codec). */
size_t tier_codec_bound(size_t n);

/*
 * Compresses n bytes of src into dst (cap >= tier_codec_bound(n)); level is
 * LZ4's acceleration (1 = default) or ZSTD's level. *out = compressed size.
 *   STRATA_EBAD_REQUEST  unknown codec, level out of range, cap too small
 *   STRATA_ENOMEM        no context could be made
 *   STRATA_EINTERNAL     the library failed
 */
int tier_codec_compress(int codec, int level, const void *src, size_t n, void *dst, size_t cap,
			size_t *out);

/*
 * Decompresses n bytes of src into dst, which must come out exactly
 * expect bytes long (the record says how long the page is).
 *   STRATA_ECORRUPT      the data does not decode, or not to expect bytes
 *   STRATA_EBAD_REQUEST  unknown codec
 *   STRATA_ENOMEM
 */
int tier_codec_decompress(int codec, const void *src, size_t n, void *dst, size_t expect);

#endif
