/*
 * The region configuration: agencies, their public keys and kinds, the
 * broker's endpoint, data directory and limits. Holds no secret, only the
 * path of the broker's key file. Errors name file, line and reason.
 */
#ifndef KETEN_CONFIG_H
#define KETEN_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CONFIG_NAME_MAX     128
#define CONFIG_ENDPOINT_MAX 256

struct agency {
	char id[KETEN_ID_MAX + 1];
	char name[CONFIG_NAME_MAX];
	enum keten_kind kind;
	uint8_t sign_pk[32];
	uint8_t box_pk[32];
	uint8_t curve_pk[32];
	int line; /* where it is defined, for messages */
};

struct config {
	char path[PATH_MAX];
	char region[KETEN_ID_MAX + 1];
	char listen[CONFIG_ENDPOINT_MAX];
	char connect[CONFIG_ENDPOINT_MAX]; /* defaults to listen */
	char data_dir[PATH_MAX];           /* absolute after loading */
	char broker_key_file[PATH_MAX]; /* absolute after loading; may be "" */
	uint8_t broker_sign_pk[32];
	uint8_t broker_curve_pk[32];
	size_t max_message_bytes; /* largest request frame accepted */
	size_t map_size;          /* initial LMDB map size in bytes */
	size_t map_max;           /* the map grows up to this; 0 = no limit */
	unsigned workers;         /* verify threads */
	unsigned batch_max;       /* most records in one commit */
	size_t n_agencies;
	struct agency *agencies;
};

#define CONFIG_DEFAULT_MAX_MESSAGE (1024 * 1024)
#define CONFIG_DEFAULT_MAP_MB      4096
#define CONFIG_DEFAULT_WORKERS     2
#define CONFIG_DEFAULT_BATCH_MAX   256

/* Loads and validates a region config; free with config_destroy. */
int config_load(struct config **out, const char *path,
                struct keten_error *err) WUR;
void config_destroy(struct config **c);
/* The agency with this id, or NULL. */
const struct agency *config_find(const struct config *c, const char *id);
/* The agency whose CURVE transport key is pk, or NULL. */
const struct agency *config_find_transport(const struct config *c,
                                           const uint8_t pk[32]);
/* The config word for a kind ("local_team", ...), or "?". */
const char *config_kind_name(enum keten_kind kind);

#endif
