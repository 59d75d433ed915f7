/*
 * The live region config: the generation in force, swapped on SIGHUP by the
 * I/O thread alone, and freed when the last job, thread or connection
 * holding a reference lets go. Nothing may read a generation it holds no
 * reference to, and nothing but liveconf_install may change which is in force.
 */
#ifndef KETEN_LIVECONF_H
#define KETEN_LIVECONF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/* One loaded config. Read-only once made; cfg is freed with the last
 * reference. */
struct liveconf_gen {
	const struct config *cfg;
	unsigned generation; /* 1 at start, +1 per installed reload */
	atomic_uint refs;
};

struct liveconf; /* the holder: the generation in force, behind a mutex */

/* A holder whose generation 1 is c (taken: freed with its last
 * reference); KETEN_E_NOMEM. */
int liveconf_new(struct liveconf **out, struct config *take,
                 struct keten_error *err) WUR;
/* Drops the holder's reference to the generation in force; the other
 * holders' references stay valid until released. NULL is a no-op. */
void liveconf_destroy(struct liveconf **l);

/* A reference to the generation in force, taken under the holder's mutex
 * (any thread). Release it with liveconf_release. */
struct liveconf_gen *liveconf_acquire(struct liveconf *l);
/* One more reference to g, which the caller already holds; returns g. */
struct liveconf_gen *liveconf_hold(struct liveconf_gen *g);
/* Drops a reference; the last one frees the config. NULLs *g. */
void liveconf_release(struct liveconf_gen **g);

/* A generation for c (taken), not yet in force, with one reference (the
 * caller's); the number it would get if installed. */
int liveconf_prepare(struct liveconf_gen **out, struct liveconf *l,
                     struct config *take, struct keten_error *err) WUR;
/* Puts g in force: the holder takes the caller's reference to g and
 * drops its own to the previous generation. The I/O thread only. */
void liveconf_install(struct liveconf *l, struct liveconf_gen *g);

/*
 * Whether next may replace cur while the broker runs: KETEN_E_CONFIG with
 * a sentence naming the field if region, data_dir or the broker's keys
 * differ (a new broker key is a roster change, recorded in the chain, not
 * a reload). Fields that take a restart (listen, workers, map sizes) are
 * set back to cur's in next, their names listed in restart (comma
 * separated, "" if none).
 */
int liveconf_compatible(struct config *next, const struct config *cur,
                        char *restart, size_t restart_cap,
                        struct keten_error *err) WUR;
/* One log fragment of what changed from cur to next: "agencies_added=N
 * agencies_removed=N agencies_rekeyed=N routes=same|changed
 * deadlines=same|changed limits=same|changed witnesses=same|changed". */
void liveconf_describe(char *buf, size_t cap, const struct config *cur,
                       const struct config *next);

/*
 * The roster questions: which agencies exist and with which keys. Every
 * thread asks them here, so the roster recorded in the chain can answer
 * them later in one place.
 */
/* The member with this id, or NULL: also NULL for an agency whose keys
 * the config's `revoked:` list names (PROTOCOL.md 22.4: refused at once;
 * the roster records the revocation before the config is in force). */
const struct agency *liveconf_member(const struct config *c, const char *id);
/* The `revoked:` entry that names agency id's keys in c, or NULL. */
const struct revocation *liveconf_revoked(const struct config *c,
                                          const char *id);
/* The member whose CURVE transport key is pk, or NULL. */
const struct agency *liveconf_member_by_transport(const struct config *c,
                                                  const uint8_t pk[32]);
/* The position of a member of c in c->agencies. */
size_t liveconf_index(const struct config *c, const struct agency *a);

#endif
