/*
 * core/columnar/col_simd.c — the scan kernels, scalar and AVX2.
 *
 * The default build flags stay portable (no -mavx2): the AVX2 bodies are
 * compiled with __attribute__((target("avx2"))) and chosen at run time
 * with __builtin_cpu_supports("avx2"). col_simd_force() pins one family
 * (the tests run both on the same data and compare). Every kernel call
 * counts which body ran (col_simd_counters), so a stats reply can show
 * the AVX2 path really ran.
 *
 * Results are identical by construction: integer kernels are exact
 * (sums in 128 bits), min/max are order-independent, float filters use the
 * same comparisons; col_k_sum_f64 is the one kernel whose scalar body
 * uses the same 4-lane order as the AVX2 body, so float sums agree bit for
 * bit as well.
 */
#include <math.h>
#include <string.h>

#include "core/columnar/col_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define COL_HAVE_X86 1
#include <immintrin.h>
#else
#define COL_HAVE_X86 0
#endif

static _Atomic int simd_mode = COL_SIMD_AUTO;
static _Atomic int avx2_cpu = -1;
/* Per-thread tallies folded into the shared ones, so the hot path never
 * writes a shared line. */
static _Atomic uint64_t shared_avx2, shared_scalar;
static _Thread_local uint64_t tl_avx2, tl_scalar;

bool col_simd_avx2_available(void)
{
	int a = atomic_load_explicit(&avx2_cpu, memory_order_relaxed);
	if (a < 0) {
#if COL_HAVE_X86
		__builtin_cpu_init();
		a = __builtin_cpu_supports("avx2") ? 1 : 0;
#else
		a = 0;
#endif
		atomic_store_explicit(&avx2_cpu, a, memory_order_relaxed);
	}
	return a == 1;
}

void col_simd_force(enum col_simd_mode m)
{
	atomic_store(&simd_mode, (int)m);
}

static inline void tally(bool avx2)
{
	uint64_t *c = avx2 ? &tl_avx2 : &tl_scalar;
	if (++*c == 64) {
		atomic_fetch_add_explicit(avx2 ? &shared_avx2 : &shared_scalar, 64,
					  memory_order_relaxed);
		*c = 0;
	}
}

void col_simd_counters(uint64_t *avx2_calls, uint64_t *scalar_calls)
{
	/* the calling thread's pending tallies are folded in first */
	atomic_fetch_add(&shared_avx2, tl_avx2);
	atomic_fetch_add(&shared_scalar, tl_scalar);
	tl_avx2 = tl_scalar = 0;
	*avx2_calls = atomic_load(&shared_avx2);
	*scalar_calls = atomic_load(&shared_scalar);
}

bool col_simd_use_avx2(void)
{
	int m = atomic_load_explicit(&simd_mode, memory_order_relaxed);
	bool avx = m != COL_SIMD_SCALAR && col_simd_avx2_available();
	tally(avx);
	return avx;
}

/* ---- scalar bodies ---------------------------------------------------------- */

static __int128 sum_i64_scalar(const int64_t *v, size_t n)
{
	__int128 s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

static void minmax_i64_scalar(const int64_t *v, size_t n, int64_t *mn, int64_t *mx)
{
	int64_t a = v[0], b = v[0];
	for (size_t i = 1; i < n; i++) {
		a = v[i] < a ? v[i] : a;
		b = v[i] > b ? v[i] : b;
	}
	*mn = a;
	*mx = b;
}

/* 4 lanes, combined as ((l0 + l1) + (l2 + l3)) + tail, as the AVX2 body. */
static double sum_f64_scalar(const double *v, size_t n)
{
	double l[4] = {0, 0, 0, 0};
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		for (int k = 0; k < 4; k++)
			l[k] += v[i + k];
	double s = (l[0] + l[1]) + (l[2] + l[3]);
	for (; i < n; i++)
		s += v[i];
	return s;
}

static void sum_minmax_f64_scalar(const double *v, size_t n, double *sum, double *mn, double *mx)
{
	double a = v[0], b = v[0];
	for (size_t i = 1; i < n; i++) {
		a = v[i] < a ? v[i] : a;
		b = v[i] > b ? v[i] : b;
	}
	*sum = sum_f64_scalar(v, n);
	*mn = a;
	*mx = b;
}

static void filter_i64_scalar(const int64_t *v, size_t n, int64_t lo, int64_t hi, bool negate,
			      uint64_t *sel)
{
	for (size_t w = 0; w * 64 < n; w++) {
		size_t end = n - w * 64 < 64 ? n - w * 64 : 64;
		uint64_t m = 0;
		const int64_t *p = v + w * 64;
		for (size_t k = 0; k < end; k++)
			m |= (uint64_t)(p[k] >= lo && p[k] <= hi) << k;
		if (negate)
			m = ~m;
		sel[w] &= m;
	}
}

static inline bool f64_test(double x, double lo, bool lo_isnan, double hi, bool hi_on)
{
	bool ok = lo_isnan ? isnan(x) : !(x < lo);
	if (hi_on)
		ok = ok && x <= hi;
	return ok;
}

static void filter_f64_scalar(const double *v, size_t n, double lo, bool lo_isnan, double hi,
			      bool hi_on, bool negate, uint64_t *sel)
{
	for (size_t w = 0; w * 64 < n; w++) {
		size_t end = n - w * 64 < 64 ? n - w * 64 : 64;
		uint64_t m = 0;
		const double *p = v + w * 64;
		for (size_t k = 0; k < end; k++)
			m |= (uint64_t)f64_test(p[k], lo, lo_isnan, hi, hi_on) << k;
		if (negate)
			m = ~m;
		sel[w] &= m;
	}
}

/* ---- AVX2 bodies --------------------------------------------------------------- */

#if COL_HAVE_X86
#define AVX2 __attribute__((target("avx2")))

/*
 * Exact sum without 128-bit lanes: v = hi * 2^32 + lo with hi, lo the
 * unsigned halves, minus 2^64 for a negative v. Per 4-lane step the lo and
 * hi sums grow by < 2^32 each, so 64-bit lane sums cannot overflow for
 * fewer than 2^32 steps; the caller's chunks are far smaller.
 */
AVX2 static __int128 sum_i64_avx2(const int64_t *v, size_t n)
{
	__m256i lo = _mm256_setzero_si256(), hi = lo, neg = lo, zero = lo;
	__m256i mask = _mm256_set1_epi64x(0xffffffffll);
	size_t i = 0;
	for (; i + 4 <= n; i += 4) {
		__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(v + i));
		lo = _mm256_add_epi64(lo, _mm256_and_si256(x, mask));
		hi = _mm256_add_epi64(hi, _mm256_srli_epi64(x, 32));
		neg = _mm256_sub_epi64(neg, _mm256_cmpgt_epi64(zero, x));
	}
	uint64_t l[4], h[4], g[4];
	_mm256_storeu_si256((__m256i *)(void *)l, lo);
	_mm256_storeu_si256((__m256i *)(void *)h, hi);
	_mm256_storeu_si256((__m256i *)(void *)g, neg);
	__int128 s = 0;
	for (int k = 0; k < 4; k++)
		s += (__int128)l[k] + ((__int128)h[k] << 32) - ((__int128)g[k] << 64);
	for (; i < n; i++)
		s += v[i];
	return s;
}

AVX2 static void minmax_i64_avx2(const int64_t *v, size_t n, int64_t *mn, int64_t *mx)
{
	if (n < 4) {
		minmax_i64_scalar(v, n, mn, mx);
		return;
	}
	__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)v), b = a;
	size_t i = 4;
	for (; i + 4 <= n; i += 4) {
		__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(v + i));
		a = _mm256_blendv_epi8(a, x, _mm256_cmpgt_epi64(a, x));
		b = _mm256_blendv_epi8(b, x, _mm256_cmpgt_epi64(x, b));
	}
	int64_t la[4], lb[4];
	_mm256_storeu_si256((__m256i *)(void *)la, a);
	_mm256_storeu_si256((__m256i *)(void *)lb, b);
	int64_t r0 = la[0], r1 = lb[0];
	for (int k = 1; k < 4; k++) {
		r0 = la[k] < r0 ? la[k] : r0;
		r1 = lb[k] > r1 ? lb[k] : r1;
	}
	for (; i < n; i++) {
		r0 = v[i] < r0 ? v[i] : r0;
		r1 = v[i] > r1 ? v[i] : r1;
	}
	*mn = r0;
	*mx = r1;
}

AVX2 static double sum_f64_avx2(const double *v, size_t n)
{
	__m256d s = _mm256_setzero_pd();
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		s = _mm256_add_pd(s, _mm256_loadu_pd(v + i));
	double l[4];
	_mm256_storeu_pd(l, s);
	double r = (l[0] + l[1]) + (l[2] + l[3]);
	for (; i < n; i++)
		r += v[i];
	return r;
}

AVX2 static void sum_minmax_f64_avx2(const double *v, size_t n, double *sum, double *mn,
				     double *mx)
{
	if (n < 4) {
		sum_minmax_f64_scalar(v, n, sum, mn, mx);
		return;
	}
	__m256d a = _mm256_loadu_pd(v), b = a, s = a;
	size_t i = 4;
	for (; i + 4 <= n; i += 4) {
		__m256d x = _mm256_loadu_pd(v + i);
		a = _mm256_min_pd(a, x);
		b = _mm256_max_pd(b, x);
		s = _mm256_add_pd(s, x);
	}
	double la[4], lb[4], ls[4];
	_mm256_storeu_pd(la, a);
	_mm256_storeu_pd(lb, b);
	_mm256_storeu_pd(ls, s);
	double r0 = la[0], r1 = lb[0];
	for (int k = 1; k < 4; k++) {
		r0 = la[k] < r0 ? la[k] : r0;
		r1 = lb[k] > r1 ? lb[k] : r1;
	}
	double r = (ls[0] + ls[1]) + (ls[2] + ls[3]);
	for (; i < n; i++) {
		r0 = v[i] < r0 ? v[i] : r0;
		r1 = v[i] > r1 ? v[i] : r1;
		r += v[i];
	}
	*sum = r;
	*mn = r0;
	*mx = r1;
}

AVX2 static void filter_i64_avx2(const int64_t *v, size_t n, int64_t lo, int64_t hi, bool negate,
				 uint64_t *sel)
{
	__m256i vlo = _mm256_set1_epi64x(lo), vhi = _mm256_set1_epi64x(hi);
	size_t full = n / 64;
	for (size_t w = 0; w < full; w++) {
		const int64_t *p = v + w * 64;
		uint64_t m = 0;
		for (int k = 0; k < 64; k += 8) {
			__m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(p + k));
			__m256i x1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + k + 4));
			__m256i out0 = _mm256_or_si256(_mm256_cmpgt_epi64(vlo, x0),
						       _mm256_cmpgt_epi64(x0, vhi));
			__m256i out1 = _mm256_or_si256(_mm256_cmpgt_epi64(vlo, x1),
						       _mm256_cmpgt_epi64(x1, vhi));
			unsigned b0 = (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(out0));
			unsigned b1 = (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(out1));
			m |= (uint64_t)((~(b0 | (b1 << 4))) & 0xff) << k;
		}
		sel[w] &= negate ? ~m : m;
	}
	if (n > full * 64)
		filter_i64_scalar(v + full * 64, n - full * 64, lo, hi, negate, sel + full);
}

/* One body per (lower test, upper on) pair, so the loop has no branches. */
#define F64_FILTER_BODY(NAME, LOWER, UPPER)                                                   \
	AVX2 static void NAME(const double *v, size_t n, double lo, double hi, bool negate,    \
			      uint64_t *sel, size_t full)                                      \
	{                                                                                      \
		__m256d vlo = _mm256_set1_pd(lo), vhi = _mm256_set1_pd(hi);                    \
		(void)vlo, (void)vhi, (void)n;                                                 \
		for (size_t w = 0; w < full; w++) {                                            \
			const double *p = v + w * 64;                                          \
			uint64_t m = 0;                                                        \
			for (int k = 0; k < 64; k += 4) {                                      \
				__m256d x = _mm256_loadu_pd(p + k);                            \
				__m256d t = LOWER;                                             \
				t = UPPER;                                                     \
				m |= (uint64_t)_mm256_movemask_pd(t) << k;                     \
			}                                                                      \
			sel[w] &= negate ? ~m : m;                                             \
		}                                                                              \
	}
F64_FILTER_BODY(f64_nlt, _mm256_cmp_pd(x, vlo, _CMP_NLT_UQ), t)
F64_FILTER_BODY(f64_nlt_le, _mm256_cmp_pd(x, vlo, _CMP_NLT_UQ),
		_mm256_and_pd(t, _mm256_cmp_pd(x, vhi, _CMP_LE_OQ)))
F64_FILTER_BODY(f64_nan, _mm256_cmp_pd(x, x, _CMP_UNORD_Q), t)
F64_FILTER_BODY(f64_nan_le, _mm256_cmp_pd(x, x, _CMP_UNORD_Q),
		_mm256_and_pd(t, _mm256_cmp_pd(x, vhi, _CMP_LE_OQ)))

static void filter_f64_avx2(const double *v, size_t n, double lo, bool lo_isnan, double hi,
			    bool hi_on, bool negate, uint64_t *sel)
{
	size_t full = n / 64;
	if (lo_isnan)
		(hi_on ? f64_nan_le : f64_nan)(v, n, lo, hi, negate, sel, full);
	else
		(hi_on ? f64_nlt_le : f64_nlt)(v, n, lo, hi, negate, sel, full);
	if (n > full * 64)
		filter_f64_scalar(v + full * 64, n - full * 64, lo, lo_isnan, hi, hi_on, negate,
				  sel + full);
}
#endif

/* ---- dispatch ------------------------------------------------------------------- */

#if COL_HAVE_X86
#define DISPATCH(avx, scalar) (col_simd_use_avx2() ? (avx) : (scalar))
#else
#define DISPATCH(avx, scalar) (col_simd_use_avx2(), (scalar))
#endif

__int128 col_k_sum_i64(const int64_t *v, size_t n)
{
	return DISPATCH(sum_i64_avx2, sum_i64_scalar)(v, n);
}

void col_k_minmax_i64(const int64_t *v, size_t n, int64_t *mn, int64_t *mx)
{
	DISPATCH(minmax_i64_avx2, minmax_i64_scalar)(v, n, mn, mx);
}

void col_k_sum_minmax_f64(const double *v, size_t n, double *sum, double *mn, double *mx)
{
	DISPATCH(sum_minmax_f64_avx2, sum_minmax_f64_scalar)(v, n, sum, mn, mx);
}

double col_k_sum_f64(const double *v, size_t n)
{
	return DISPATCH(sum_f64_avx2, sum_f64_scalar)(v, n);
}

void col_k_filter_i64(const int64_t *v, size_t n, int64_t lo, int64_t hi, bool negate,
		      uint64_t *sel)
{
	DISPATCH(filter_i64_avx2, filter_i64_scalar)(v, n, lo, hi, negate, sel);
}

void col_k_filter_f64(const double *v, size_t n, double lo, bool lo_isnan, double hi, bool hi_on,
		      bool negate, uint64_t *sel)
{
	DISPATCH(filter_f64_avx2, filter_f64_scalar)(v, n, lo, lo_isnan, hi, hi_on, negate, sel);
}
