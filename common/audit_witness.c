/*
 * The witness database held to the log an audit walks, and cosignature
 * lines checked for proof bundles (audit_witness.h). Reads a directory
 * only through ledger.c; never writes, never trusts a stored byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "audit_witness.h"

int
audit_witness_cosig(struct note_cosig *cs, const struct note_sig **line,
                    const struct note *n, const struct witness *w)
{
	struct note_key wk;
	const struct note_sig *s;

	if (note_key_init(&wk, w->name, NOTE_COSIG_V1, w->cosign_pk) != 0 ||
	    (s = note_find(n, &wk)) == NULL || note_cosig_decode(cs, s) != 0 ||
	    note_cosig_verify(cs, n->text, n->text_len, &wk) != 0)
		return -1;
	*line = s;
	return 0;
}

/* The witness named by a database key, or NULL (not named, or a key no
 * witness name can be). */
static const struct witness *
named(const struct config *c, const char *name, size_t len)
{
	char buf[CONFIG_WITNESS_NAME_MAX + 1];

	if (len == 0 || len > CONFIG_WITNESS_NAME_MAX ||
	    memchr(name, '\0', len) != NULL)
		return NULL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return config_find_witness(c, buf);
}

void
audit_witness_entry(struct audit_cosigned *e, struct note_cosig *cs,
                    const struct note_key *broker, const struct witness *w,
                    const char *note, size_t len)
{
	struct keten_error why;
	struct note n;
	const struct note_sig *line;

	memset(e, 0, sizeof(*e));
	snprintf(e->witness, sizeof(e->witness), "%s", w->name);
	if (note_checkpoint_parse(&e->cp, note, len, broker, &why) !=
	        KETEN_OK ||
	    note_split(&n, note, len, &why) != KETEN_OK) {
		memset(&e->cp, 0, sizeof(e->cp));
		e->state = AUDIT_COSIG_BAD_NOTE;
	} else if (note_checkpoint_verify(&e->cp, broker) != 0) {
		e->state = AUDIT_COSIG_BAD_BROKER;
	} else if (audit_witness_cosig(cs, &line, &n, w) != 0) {
		e->state = AUDIT_COSIG_BAD_COSIG;
	} else {
		e->cosigned_at = cs->timestamp;
		e->state = AUDIT_COSIG_PENDING;
	}
}

void
audit_witness_broker_key(struct note_key *k, const struct config *c,
                         const struct roster *r, const char *note, size_t len)
{
	struct roster_keyset *const *ks;
	size_t n = r != NULL ? roster_broker_keys(r, &ks) : 0;
	struct keten_checkpoint cp;
	struct keten_error why;
	struct note_key cand;
	const uint8_t *pk;

	*k = c->broker_key;
	while (n-- > 0)
		if (note_broker_key(&cand, c->region, ks[n]->keys.sign) == 0 &&
		    note_checkpoint_parse(&cp, note, len, &cand, &why) ==
		        KETEN_OK &&
		    (pk = roster_broker_key_for_size(r, cp.size)) != NULL &&
		    sodium_memcmp(pk, cand.pk, 32) == 0) {
			*k = cand;
			return;
		}
}

struct load {
	struct audit_result *res;
	const struct config *c;
	const struct roster *r;
};

static int
load_entry(void *arg, const char *name, size_t name_len, const char *note,
           size_t note_len)
{
	struct load *ld = arg;
	const struct witness *w = named(ld->c, name, name_len);
	struct note_cosig cs;
	struct note_key broker;

	if (w == NULL) {
		ld->res->n_unnamed++;
		return 0;
	}
	/* Keys are unique and the config names at most this many. */
	if (ld->res->n_cosigned == AUDIT_COSIGNED_MAX)
		return 0;
	audit_witness_broker_key(&broker, ld->c, ld->r, note, note_len);
	audit_witness_entry(&ld->res->cosigned[ld->res->n_cosigned++], &cs,
	                    &broker, w, note, note_len);
	return 0;
}

int
audit_witness_load(struct audit_result *res, const struct config *c,
                   const struct roster *r, struct ledger *l,
                   struct keten_error *err)
{
	struct load ld = {.res = res, .c = c, .r = r};

	res->n_cosigned = 0;
	res->n_unnamed = 0;
	return ledger_witness_each(l, load_entry, &ld, err);
}

uint64_t
audit_witness_next(const struct audit_result *res)
{
	uint64_t next = UINT64_MAX;

	for (size_t i = 0; i < res->n_cosigned; i++)
		if (res->cosigned[i].state == AUDIT_COSIG_PENDING &&
		    res->cosigned[i].cp.size < next)
			next = res->cosigned[i].cp.size;
	return next;
}

void
audit_witness_reached(struct audit_result *res, uint64_t size,
                      const uint8_t head[32], const uint8_t root[32])
{
	for (size_t i = 0; i < res->n_cosigned; i++) {
		struct audit_cosigned *e = &res->cosigned[i];
		if (e->state != AUDIT_COSIG_PENDING || e->cp.size != size)
			continue;
		e->state = sodium_memcmp(e->cp.head_hash, head, 32) == 0 &&
		                   sodium_memcmp(e->cp.root, root, 32) == 0
		               ? AUDIT_COSIG_HELD
		               : AUDIT_COSIG_DIFFERS;
	}
}

/* The sentence for a bad entry e, once the log verified. */
static int
fault(struct audit_result *res, const struct config *c,
      const struct audit_cosigned *e, struct keten_error *err)
{
	unsigned long long size = e->cp.size, n = res->records;

	switch (e->state) {
	case AUDIT_COSIG_BAD_NOTE:
		return error_set(err, KETEN_E_CHAIN,
		                 "the witness database's entry of witness %s "
		                 "is not a checkpoint note of region %s, so "
		                 "it vouches for nothing (the log holds %llu "
		                 "records; the entry was altered)",
		                 e->witness, c->region, n);
	case AUDIT_COSIG_BAD_BROKER:
		return error_set(err, KETEN_E_CHAIN,
		                 "the checkpoint of %llu records that witness "
		                 "%s cosigned is not signed by the broker key "
		                 "in the region config (the log holds %llu "
		                 "records)",
		                 size, e->witness, n);
	case AUDIT_COSIG_BAD_COSIG:
		return error_set(
		    err, KETEN_E_CHAIN,
		    "witness %s's cosignature of the checkpoint of "
		    "%llu records does not verify with its "
		    "cosign_key in the region config (the log "
		    "holds %llu records; the entry was forged or "
		    "altered)",
		    e->witness, size, n);
	case AUDIT_COSIG_DIFFERS:
		res->bad_seq = size ? size : 1;
		return error_set(err, KETEN_E_CHAIN,
		                 "witness %s cosigned a checkpoint of %llu "
		                 "records that this log of %llu records does "
		                 "not extend: its tree at %llu records differs "
		                 "(records up to %llu were altered, removed or "
		                 "reordered after the witness saw them)",
		                 e->witness, size, n, size, size);
	case AUDIT_COSIG_BEYOND:
		res->bad_seq = n + 1;
		return error_set(err, KETEN_E_CHAIN,
		                 "witness %s cosigned a checkpoint of %llu "
		                 "records but this log holds only %llu "
		                 "(records removed at the end)",
		                 e->witness, size, n);
	default:
		return KETEN_OK;
	}
}

static int
by_size_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

const char *
audit_witness_unverified(enum audit_cosig_state state)
{
	switch (state) {
	case AUDIT_COSIG_BAD_NOTE:
		return "note";
	case AUDIT_COSIG_BAD_BROKER:
		return "broker_signature";
	case AUDIT_COSIG_BAD_COSIG:
		return "cosignature";
	default:
		return NULL;
	}
}

int
audit_witness_end(struct audit_result *res, const struct config *c,
                  bool skip_unverified, struct keten_error *err)
{
	uint64_t size[AUDIT_COSIGNED_MAX];
	size_t n = 0;
	int rc;

	for (size_t i = 0; i < res->n_cosigned; i++)
		if (res->cosigned[i].state == AUDIT_COSIG_PENDING)
			res->cosigned[i].state = AUDIT_COSIG_BEYOND;
	for (size_t i = 0; i < res->n_cosigned; i++) {
		const struct audit_cosigned *e = &res->cosigned[i];
		if (skip_unverified &&
		    audit_witness_unverified(e->state) != NULL)
			continue;
		if ((rc = fault(res, c, e, err)) != KETEN_OK)
			return rc;
	}
	/* The held entries are checkpoints of this one log, so a witness
	 * that cosigned N records vouches for every size up to N. */
	for (size_t i = 0; i < res->n_cosigned; i++)
		if (res->cosigned[i].state == AUDIT_COSIG_HELD)
			size[n++] = res->cosigned[i].cp.size;
	qsort(size, n, sizeof(size[0]), by_size_desc);
	res->has_quorum =
	    c->witness_quorum > 0 && n >= (size_t)c->witness_quorum;
	res->quorum_size = res->has_quorum ? size[c->witness_quorum - 1] : 0;
	return KETEN_OK;
}

struct lines {
	char *out;
	size_t len, cap, note_len;
	const struct config *c;
	const struct roster *r;
};

static int
line_entry(void *arg, const char *name, size_t name_len, const char *note,
           size_t note_len)
{
	struct lines *ls = arg;
	const struct witness *w = named(ls->c, name, name_len);
	struct audit_cosigned e;
	struct note_cosig cs;
	struct note_key wk, broker;
	size_t n;

	if (w == NULL || note_len < ls->note_len ||
	    memcmp(note, ls->out, ls->note_len) != 0)
		return 0;
	audit_witness_broker_key(&broker, ls->c, ls->r, note, note_len);
	audit_witness_entry(&e, &cs, &broker, w, note, note_len);
	if (e.state != AUDIT_COSIG_PENDING ||
	    note_key_init(&wk, w->name, NOTE_COSIG_V1, w->cosign_pk) != 0)
		return 0;
	n = note_cosig_line(ls->out + ls->len, ls->cap - ls->len, &wk, &cs);
	ls->len += n;
	return 0;
}

size_t
audit_witness_lines(char *out, size_t len, size_t cap, const struct config *c,
                    const struct roster *r, const char *dir)
{
	struct lines ls = {.out = out,
	                   .len = len,
	                   .cap = cap,
	                   .note_len = len,
	                   .c = c,
	                   .r = r};
	struct keten_error err;
	struct ledger *l = NULL;

	if (ledger_open(&l, dir, &err) != KETEN_OK)
		return len;
	if (ledger_witness_each(l, line_entry, &ls, &err) != KETEN_OK)
		ls.len = len;
	ledger_close(&l);
	return ls.len;
}
