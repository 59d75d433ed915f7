/*
 * Big-endian integers in byte buffers, for the fixed layouts that
 * docs/PROTOCOL.md specifies (signing encodings, records, LMDB keys).
 * Header-only and pure: no allocation, no I/O.
 */
#ifndef KETEN_BYTES_H
#define KETEN_BYTES_H

#include <stdint.h>

static inline void
bytes_put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline void
bytes_put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static inline uint32_t
bytes_get_be32(const void *vp)
{
	const uint8_t *p = vp;

	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t
bytes_get_be64(const void *vp)
{
	const uint8_t *p = vp;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

#endif
