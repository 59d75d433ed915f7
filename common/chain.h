/*
 * The hash chain: the stored record layout, record hashes, the genesis
 * value and signed receipts (docs/PROTOCOL.md, "Records"). Pure functions:
 * no I/O, no storage.
 */
#ifndef KETEN_CHAIN_H
#define KETEN_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct receipt;

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

/* The bytes a receipt signature covers (CHAIN_RECEIPT_PAE_LEN). */
#define CHAIN_RECEIPT_PAE_LEN (17 + 8 + 32 + 16 + 8 + 8 + 32)
void chain_receipt_pae(uint8_t out[CHAIN_RECEIPT_PAE_LEN],
                       const struct receipt *r);
/* Fills r->signature. */
void chain_receipt_sign(struct receipt *r, const uint8_t sk[64]);
/* 0 if r carries a valid broker signature, else -1. */
int chain_receipt_verify(const struct receipt *r, const uint8_t pk[32]) WUR;

#endif
