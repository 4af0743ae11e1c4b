/*
 * bench/crc32c_bench.c — throughput of crc32c() (the page checksum path)
 * against ISA-L's crc32_iscsi called directly, on the same 4 KiB and 1 MiB
 * buffers; the portable and SSE4.2 fallbacks and page_checksum_update() for
 * reference. Prints GB/s (10^9 bytes per second) and the crc32c/ISA-L ratio.
 * No assertions: a measurement, not a test.
 *
 *   make build/bench/crc32c_bench && ./build/bench/crc32c_bench [seconds]
 */
#include <isa-l/crc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crc32c.h"
#include "core/page.h"

static volatile uint32_t sink;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum which { W_CRC32C, W_ISAL, W_HW, W_SW, W_PAGE };

static uint32_t run_once(enum which w, uint8_t *buf, size_t len, uint32_t c)
{
	switch (w) {
	case W_CRC32C: return crc32c(c, buf, len);
	case W_ISAL: return crc32_iscsi(buf, (int)len, c);
	case W_HW: return crc32c_hw(c, buf, len);
	case W_SW: return crc32c_sw(c, buf, len);
	case W_PAGE:
		page_checksum_update(buf, len);
		return c ^ buf[0];
	}
	return c;
}

/* Best of five rounds of about `seconds` / 5 each, in GB/s. */
static double measure(enum which w, uint8_t *buf, size_t len, double seconds)
{
	double best = 0.0;
	uint32_t c = 0;

	for (int round = 0; round < 5; round++) {
		size_t iters = 1;
		double t0, el;
		/* grow the batch until it takes long enough to time */
		for (;;) {
			t0 = now_s();
			for (size_t i = 0; i < iters; i++)
				c = run_once(w, buf, len, c);
			el = now_s() - t0;
			if (el >= seconds / 5 || iters > ((size_t)1 << 40))
				break;
			iters *= el > 0 ? (size_t)(seconds / 5 / el) + 2 : 16;
		}
		double gbs = (double)len * (double)iters / el / 1e9;
		if (gbs > best)
			best = gbs;
	}
	sink = c;
	return best;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0;
	size_t lens[] = { 4096, 1u << 20 };

	if (seconds <= 0)
		seconds = 1.0;
	printf("crc32c backend: %s, sse4.2: %s\n", crc32c_backend(),
	       crc32c_hw_available() ? "yes" : "no");
	for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
		size_t len = lens[k];
		uint8_t *buf = aligned_alloc(4096, len);
		if (buf == NULL) {
			perror("aligned_alloc");
			return 1;
		}
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)(i * 131 + 7);

		double ours = measure(W_CRC32C, buf, len, seconds);
		double isal = measure(W_ISAL, buf, len, seconds);
		double hw = measure(W_HW, buf, len, seconds);
		double sw = measure(W_SW, buf, len, seconds);
		const char *unit = len >= (1u << 20) ? "MiB" : "KiB";
		size_t shown = len >= (1u << 20) ? len >> 20 : len >> 10;

		printf("%4zu %s  crc32c()       %7.2f GB/s\n", shown, unit, ours);
		printf("%4zu %s  crc32_iscsi    %7.2f GB/s\n", shown, unit, isal);
		printf("%4zu %s  crc32c_hw()    %7.2f GB/s\n", shown, unit, hw);
		printf("%4zu %s  crc32c_sw()    %7.2f GB/s\n", shown, unit, sw);
		if (len == 4096) {
			double pg = measure(W_PAGE, buf, len, seconds);
			printf("%4zu %s  page_checksum  %7.2f GB/s\n", shown, unit, pg);
		}
		printf("%4zu %s  ratio crc32c()/crc32_iscsi = %.3f\n", shown, unit,
		       ours / isal);
		free(buf);
	}
	return 0;
}
