/*
 * The wire module's private half: the generated protobuf-c types and the
 * helpers wire*.c share. Only common/wire*.c (and the wire's own tests) may
 * include it; every other file sees the plain structs of wire.h.
 */
#ifndef KETEN_WIRE_PB_H
#define KETEN_WIRE_PB_H

#include <stdint.h>
#include <string.h>

#include "keten.pb-c.h"
#include "wire.h"

/* Packs m into malloc'd bytes: *out (freed by the caller), *len. */
int wire_pack(uint8_t **out, size_t *len, const ProtobufCMessage *m) WUR;
/* Copies src to dst if it is exactly n bytes: 0, else -1. */
int wire_copy_fixed(uint8_t *dst, size_t n, ProtobufCBinaryData src);
/* Copies an agency id (bytes on the wire) to dst if it is a valid id:
 * 0, else -1. */
int wire_copy_id(char dst[KETEN_ID_MAX + 1], ProtobufCBinaryData src);

/* Views of borrowed memory as protobuf-c bytes, for encoding only. */
static inline ProtobufCBinaryData
wire_id_bin(const char *id)
{
	ProtobufCBinaryData b = {.len = strlen(id),
	                         .data = (uint8_t *)(uintptr_t)id};
	return b;
}

static inline ProtobufCBinaryData
wire_bin(const uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = {.len = n, .data = (uint8_t *)(uintptr_t)p};
	return b;
}

#endif
