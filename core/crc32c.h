/*
 * core/crc32c.h — CRC-32C (Castagnoli), the checksum of every page and block.
 *
 * The standard CRC-32C: reflected polynomial 0x82F63B78, initial value and
 * final XOR 0xFFFFFFFF, as in iSCSI (RFC 3720), ext4, SCTP and Intel's CRC32
 * instruction. crc32c(0, "123456789", 9) == 0xE3069283.
 *
 * Chaining: the crc argument is the result over the preceding bytes (0 to
 * start), so for any split of a buffer into a then b
 *
 *     crc32c(crc32c(0, a, la), b, lb) == crc32c(0, ab, la + lb).
 *
 * Three implementations return the same value for every input:
 *  - crc32c()    the one to call: ISA-L's crc32_iscsi (which picks the fastest
 *                code for the CPU at run time); without ISA-L at build time,
 *                crc32c_hw() where the CPU has SSE4.2, else crc32c_sw().
 *  - crc32c_sw() portable table-driven code (slicing-by-8), any CPU.
 *  - crc32c_hw() the SSE4.2 crc32 instruction; on a CPU or architecture
 *                without it, it falls back to crc32c_sw().
 *
 * All are pure functions: safe from any thread, no allocation, no failure.
 * buf may be NULL when len is 0.
 */
#ifndef STRATA_CORE_CRC32C_H
#define STRATA_CORE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC-32C of len bytes at buf, continuing from crc (0 to start). */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/* Same value as crc32c(), portable table-driven code. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Same value as crc32c(), SSE4.2 crc32 instruction (crc32c_sw() without it). */
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* Whether crc32c_hw() really uses the crc32 instruction on this CPU. */
bool crc32c_hw_available(void);

/* Which code crc32c() runs: "isa-l", "sse4.2" or "table". */
const char *crc32c_backend(void);

#endif
