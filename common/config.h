/*
 * The region configuration: agencies, their public keys and kinds, the
 * broker's endpoint, data directory and limits, the route table and the
 * deadlines. Holds no secret, only the path of the broker's key file.
 * Errors name file, line and reason.
 */
#ifndef KETEN_CONFIG_H
#define KETEN_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "clock.h"
#include "error.h"
#include "note.h"
#include "text.h"

#define CONFIG_NAME_MAX         128
#define CONFIG_ENDPOINT_MAX     256
#define CONFIG_WITNESS_NAME_MAX TEXT_WITNESS_NAME_MAX
#define CONFIG_WITNESSES_MAX    16   /* witnesses a region config may name */
#define CONFIG_REASON_MAX       255  /* bytes of a revocation's reason */
#define CONFIG_ROTATION_MAX     4096 /* bytes of a decoded rotation statement */
#define CONFIG_BROKER_ID        "broker" /* reserved: the roster's signer */

struct agency {
	char id[KETEN_ID_MAX + 1];
	char name[CONFIG_NAME_MAX];
	enum keten_kind kind;
	uint8_t sign_pk[32];
	uint8_t box_pk[32];
	uint8_t curve_pk[32];
	int line; /* where it is defined, for messages */
	/* `rotation:`, decoded from base64: the ROTATION statement
	 * (PROTOCOL.md 22) in which the agency's previous key endorses these
	 * keys; malloc'd and freed by config_destroy (copies of the struct
	 * borrow it). NULL and 0 if not given. Not checked here: the roster
	 * judges it. rotation_line: where it is, for messages. */
	uint8_t *rotation;
	size_t rotation_len;
	int rotation_line;
};

/*
 * One entry of the top-level `revoked:` list: agency's signing key
 * sign_pk is not to be trusted since compromised_at_us. The agency need
 * not be in `agencies:` (it may have left); entries stay forever.
 */
struct revocation {
	char agency[KETEN_ID_MAX + 1];
	uint8_t sign_pk[32];
	int64_t compromised_at_us;          /* µs since the epoch, UTC */
	char reason[CONFIG_REASON_MAX + 1]; /* 1-255 bytes of UTF-8 text */
	int line; /* where the entry begins, for messages */
};

/*
 * One row of the route table: which kind may send which message type to
 * which kind. KETEN_KIND_NONE as from/to means any kind (the word "any")
 * except auditor: an auditor sends and receives nothing.
 */
/*
 * A witness (PROTOCOL.md 3, 10.5): an agency or auditor that cosigns the
 * broker's checkpoints under a key name of its own. It connects with its
 * transport key and may only ping and cosign.
 */
struct witness {
	char name[CONFIG_WITNESS_NAME_MAX + 1]; /* a signed-note key name */
	uint8_t cosign_pk[32];                  /* Ed25519 */
	uint8_t curve_pk[32];
	int line;
};

struct route {
	/* KETEN_MSG_REFERRAL, _HANDOVER or _FEEDBACK */
	enum keten_message_type type;
	enum keten_kind from, to;
};

struct config {
	char path[PATH_MAX];
	char region[KETEN_ID_MAX + 1];
	char listen[CONFIG_ENDPOINT_MAX];
	char connect[CONFIG_ENDPOINT_MAX]; /* defaults to listen */
	/* absolute after loading: a relative one is taken under the config
	 * file's directory, or for ketend under $STATE_DIRECTORY's first
	 * path when that is set (systemd's StateDirectory=) */
	char data_dir[PATH_MAX];
	char broker_key_file[PATH_MAX]; /* absolute after loading; may be "" */
	/* broker_sign_pk and broker_curve_pk were not in the file: ketend's
	 * config_load read them from broker_key_file. */
	bool broker_keys_from_file;
	uint8_t broker_sign_pk[32];
	struct note_key broker_key; /* its checkpoint key: "keten/<region>" */
	uint8_t broker_curve_pk[32];
	/* broker.rotation, decoded: the statement in which the broker's
	 * previous key endorses these keys, as agency.rotation; malloc'd,
	 * NULL and 0 if not given. */
	uint8_t *broker_rotation;
	size_t broker_rotation_len;
	int broker_rotation_line;
	size_t max_message_bytes; /* largest request frame accepted */
	size_t map_size;          /* initial LMDB map size in bytes */
	size_t map_max;           /* the map grows up to this; 0 = no limit */
	unsigned workers;         /* verify threads */
	unsigned batch_max;       /* most records in one commit */
	/* What peers may make the broker hold (docs/ketend.md, "Durability
	 * and limits"): bytes a connection sent that the broker has not read
	 * and replies queued for it that it has not taken, each per
	 * connection and for all (64-bit: 32-bit size_t cannot hold the
	 * largest); how many connections it keeps; and how long a handshake
	 * may take. */
	uint64_t peer_inbound_bytes;
	uint64_t peer_outbound_bytes;
	uint64_t inbound_budget_bytes;
	uint64_t outbound_budget_bytes;
	unsigned max_connections;
	unsigned handshake_ms;
	size_t n_agencies; /* may be 0 only in a client's or auditor's
	                    * config (config_load_client) */
	struct agency *agencies;
	struct revocation *revoked; /* malloc'd; freed by config_destroy */
	size_t n_revoked;
	struct route *routes; /* malloc'd; freed by config_destroy */
	size_t n_routes;
	/* Deadlines: an offer is to be acknowledged within
	 * deadline_acknowledge, and decided within deadline_referral or
	 * deadline_handover counted from its acknowledgement. */
	struct duration deadline_acknowledge;
	struct duration deadline_referral;
	struct duration deadline_handover;
	/* Witnesses, and how many must cosign a checkpoint for the audit
	 * to call it witnessed (1 if witnesses are named without it). */
	struct witness *witnesses; /* malloc'd; freed by config_destroy */
	size_t n_witnesses;
	unsigned witness_quorum;
	/* limits.clock_behind_tolerance_s: how far the clock may be behind
	 * the log's time at start (docs/ketend.md, "The clock"). */
	unsigned clock_behind_tolerance_s;
	/* metrics.listen (docs/ketend.md, "Metrics and health"): where the
	 * metrics and health listener binds, as written ("" without the
	 * section: no listener), and parsed: a numeric IPv4 address or a
	 * bracketed IPv6 one, and a port. */
	char metrics_listen[CONFIG_ENDPOINT_MAX];
	struct sockaddr_storage metrics_addr;
	socklen_t metrics_addr_len;
};

#define CONFIG_DEFAULT_MAX_MESSAGE     (1024 * 1024)
#define CONFIG_DEFAULT_MAP_MB          4096
#define CONFIG_DEFAULT_WORKERS         2
#define CONFIG_DEFAULT_BATCH_MAX       256
#define CONFIG_DEFAULT_PEER_IN_MB      32
#define CONFIG_DEFAULT_PEER_OUT_MB     32
#define CONFIG_DEFAULT_IN_BUDGET_MB    256
#define CONFIG_DEFAULT_OUT_BUDGET_MB   256
#define CONFIG_DEFAULT_HANDSHAKE_MS    5000
#define CONFIG_DEFAULT_MAX_CONNECTIONS 4096

#define CONFIG_DEFAULT_CLOCK_BEHIND_S 300     /* 5 minutes */
#define CONFIG_CLOCK_BEHIND_MAX_S     2678400 /* 31 days */

/* Default deadlines, in working days; referral: Veilig Thuis's safety
 * assessment. Without `routes:` the table is config_default_routes. */
#define CONFIG_DEFAULT_ACKNOWLEDGE_WD 1
#define CONFIG_DEFAULT_REFERRAL_WD    5
#define CONFIG_DEFAULT_HANDOVER_WD    10

/* The route table of a config without `routes:`, in order. */
extern const struct route config_default_routes[];
extern const size_t config_n_default_routes;

/*
 * Bounds on the file itself, checked before and while it is parsed, so
 * that a hostile file is refused in time proportional to the bounds:
 * its size, how deep mappings and lists nest (a region config needs 4),
 * how many keys one mapping may have, and how many values (scalars,
 * lists and mappings) the whole file may have: an agency takes 13, so
 * 65536 leaves room for 5000 agencies, and loading that many takes
 * milliseconds. Anchors and aliases are refused.
 */
#define CONFIG_FILE_MAX  (1024 * 1024)
#define CONFIG_DEPTH_MAX 32
#define CONFIG_KEYS_MAX  256
#define CONFIG_NODES_MAX 65536

/*
 * Loads and validates a region config, as ketend reads it; free with
 * config_destroy. broker.sign_key and transport_key may be left out if
 * broker.key_file is given: they are read from that file (which must
 * then be the broker's; keys_load's refusals, such as its mode or owner,
 * come unchanged, with their own codes). The
 * file must be a regular file (anything else is refused at once, without
 * blocking), writable by no one but its owner, owned by euid or root, in
 * a directory that group and others cannot write (unless sticky), and
 * within the bounds above (fileck.h). KETEN_E_CONFIG with FILE:LINE.
 */
int config_load(struct config **out, const char *path,
                struct keten_error *err) WUR;
/* As config_load, for a client (libketen, PROTOCOL.md 22.5): only region
 * and the broker's keys are needed; agencies, listen, connect and
 * data_dir may be missing (connect is "" then), agencies empty. The
 * broker's sign_key and transport_key must be in the file: a client
 * never reads the broker's key file (the refusal says how to get them). */
int config_load_client(struct config **out, const char *path,
                       struct keten_error *err) WUR;
void config_destroy(struct config **c);
/* The agency with this id, or NULL. */
const struct agency *config_find(const struct config *c, const char *id);
/* The agency whose CURVE transport key is pk, or NULL. */
const struct agency *config_find_transport(const struct config *c,
                                           const uint8_t pk[32]);
/* The witness named name, or NULL. */
const struct witness *config_find_witness(const struct config *c,
                                          const char *name);
/* The witness whose CURVE transport key is pk, or NULL. */
const struct witness *config_find_witness_transport(const struct config *c,
                                                    const uint8_t pk[32]);
/* The largest request frame the broker reads, answering those above
 * max_message_bytes with KETEN_E_TOO_BIG: twice it plus 64 KiB. Beyond,
 * libzmq ends the connection (ZMQ_MAXMSGSIZE). */
size_t config_hard_max(const struct config *c);
/* The config word for a kind ("local_team", ...), or "?". */
const char *config_kind_name(enum keten_kind kind);
/* As config_kind_name, but "any" for KETEN_KIND_NONE: a route's from/to. */
const char *config_route_kind_name(enum keten_kind kind);

#endif
