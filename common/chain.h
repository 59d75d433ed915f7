/*
 * The hash chain: the stored record layout, record hashes, the genesis
 * value and inclusion proofs (docs/PROTOCOL.md 9-10; the checkpoint note
 * itself is note.h's).
 * Pure functions: no I/O, no storage.
 */
#ifndef KETEN_CHAIN_H
#define KETEN_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct keten_checkpoint;

/* Bytes before the envelope in a stored record: seq, prev hash, time. */
#define CHAIN_RECORD_HEADER (8 + 32 + 8)

struct record {
	uint64_t seq;
	uint8_t prev_hash[32];
	int64_t received_at_us;
	const uint8_t *envelope; /* borrowed */
	size_t envelope_len;
};

/* The prev_hash of record 1, bound to the region's id. */
void chain_genesis(uint8_t out[32], const char *region);
/* Writes a record's stored bytes (CHAIN_RECORD_HEADER + envelope_len). */
void chain_record_encode(uint8_t *out, const struct record *r);
/* Parses stored bytes; the envelope points into buf. 0 or -1. */
int chain_record_decode(struct record *r, const uint8_t *buf, size_t len) WUR;
/* The hash of the record r would be stored as, without building it. */
void chain_record_hash_of(uint8_t out[32], const struct record *r);
/* BLAKE2b-256 of the domain tag and the stored bytes. */
void chain_record_hash(uint8_t out[32], const uint8_t *stored, size_t len);

/* 0 if path proves record seq, with record_hash, is in the tree c signed
 * (seq <= c->size), else -1. No signature check. */
int chain_inclusion_verify(uint64_t seq, const uint8_t record_hash[32],
                           const struct keten_checkpoint *c,
                           const uint8_t (*path)[32], size_t n_path) WUR;

#endif
