/*
 * Region config loader on libyaml's document API. Validates everything it
 * reads; never accepts a file it only half understood (unknown keys fail).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <yaml.h>

#include "config.h"
#include "fileck.h"
#include "keys.h"
#include "text.h"
#include "wire.h"

static const struct {
	const char *word;
	enum keten_kind kind;
} kinds[] = {
    {"local_team", KETEN_KIND_LOCAL_TEAM},
    {"veilig_thuis", KETEN_KIND_VEILIG_THUIS},
    {"gi", KETEN_KIND_GI},
    {"raad", KETEN_KIND_RAAD},
    {"auditor", KETEN_KIND_AUDITOR},
};

const char *
config_kind_name(enum keten_kind kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i].kind == kind)
			return kinds[i].word;
	return "?";
}

const char *
config_route_kind_name(enum keten_kind kind)
{
	return kind == KETEN_KIND_NONE ? "any" : config_kind_name(kind);
}

/* The chain: a local team reports to Veilig Thuis, which hands the case on
 * to a GI (and the GI to the Raad) or back to the local team; feedback goes
 * to earlier referrers, which the case state machine checks. */
const struct route config_default_routes[] = {
    {KETEN_MSG_REFERRAL, KETEN_KIND_LOCAL_TEAM, KETEN_KIND_VEILIG_THUIS},
    {KETEN_MSG_HANDOVER, KETEN_KIND_LOCAL_TEAM, KETEN_KIND_VEILIG_THUIS},
    {KETEN_MSG_HANDOVER, KETEN_KIND_VEILIG_THUIS, KETEN_KIND_GI},
    {KETEN_MSG_HANDOVER, KETEN_KIND_GI, KETEN_KIND_RAAD},
    {KETEN_MSG_HANDOVER, KETEN_KIND_VEILIG_THUIS, KETEN_KIND_LOCAL_TEAM},
    {KETEN_MSG_HANDOVER, KETEN_KIND_RAAD, KETEN_KIND_GI},
    {KETEN_MSG_FEEDBACK, KETEN_KIND_NONE, KETEN_KIND_NONE},
};
const size_t config_n_default_routes =
    sizeof(config_default_routes) / sizeof(config_default_routes[0]);

struct loader {
	yaml_document_t doc;
	struct config *c;
	bool client; /* config_load_client: agencies, listen, data_dir optional
	              */
	char dir[PATH_MAX]; /* the config file's directory */
	struct keten_error *err;
};

static int bad(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
bad(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return error_set(l->err, KETEN_E_CONFIG, "%s:%lu: %s", l->c->path,
	                 n ? (unsigned long)n->start_mark.line + 1 : 0UL, what);
}

static const char *
scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
	                                   : NULL;
}

static int
get_string(struct loader *l, const yaml_node_t *n, const char *key, char *out,
           size_t outlen)
{
	const char *s = scalar(n);

	if (s == NULL)
		return bad(l, n, "'%s' must be a single value", key);
	if (strlen(s) >= outlen || s[0] == '\0')
		return bad(l, n, "'%s' is empty or too long", key);
	strcpy(out, s);
	return KETEN_OK;
}

static int
get_size(struct loader *l, const yaml_node_t *n, const char *key,
         unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	const char *s = scalar(n);
	char *end;
	unsigned long long v;
	char range[64];

	if (s == NULL || s[0] < '0' || s[0] > '9')
		return bad(l, n, "'%s' must be a whole number", key);
	errno = 0;
	v = strtoull(s, &end, 10);
	snprintf(range, sizeof(range), " between %llu and %llu", lo, hi);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return bad(l, n, "'%s' must be a whole number%s", key, range);
	*out = v;
	return KETEN_OK;
}

static int
get_key(struct loader *l, const yaml_node_t *n, const char *key,
        uint8_t out[32])
{
	const char *s = scalar(n);

	if (s == NULL || text_key_from_b64(out, s) != 0)
		return bad(
		    l, n,
		    "'%s' must be a 32-byte key in base64 (as printed by "
		    "'keten keygen')",
		    key);
	return KETEN_OK;
}

/* base64 (with padding) of 1..CONFIG_ROTATION_MAX bytes: a rotation
 * statement from 'keten keygen --rotate'; *out is malloc'd. */
static int
get_rotation(struct loader *l, const yaml_node_t *n, const char *key,
             uint8_t **out, size_t *len, int *line)
{
	const char *s = scalar(n), *end = NULL;
	uint8_t *bin;

	if ((bin = malloc(CONFIG_ROTATION_MAX)) == NULL)
		return error_set(l->err, KETEN_E_NOMEM, "out of memory");
	if (s == NULL || s[0] == '\0' ||
	    sodium_base642bin(bin, CONFIG_ROTATION_MAX, s, strlen(s), NULL, len,
	                      &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != s + strlen(s) || *len == 0) {
		free(bin);
		return bad(l, n,
		           "'%s' must be the base64 statement printed by "
		           "'keten keygen --rotate' (at most %d bytes)",
		           key, CONFIG_ROTATION_MAX);
	}
	*out = bin;
	*line = (int)n->start_mark.line + 1;
	return KETEN_OK;
}

/* UTF-8 text of 1..max bytes with no control character. */
static int
get_text(struct loader *l, const yaml_node_t *n, const char *key, char *out,
         size_t max)
{
	const char *s = scalar(n);
	size_t len = s ? strlen(s) : 0;

	if (s == NULL || len == 0 || len > max)
		return bad(l, n, "'%s' must be text of 1 to %zu bytes", key,
		           max);
	if (text_utf8_check(s, len) != len || memchr(s, '\n', len) != NULL)
		return bad(l, n,
		           "'%s' must be UTF-8 text without control characters",
		           key);
	memcpy(out, s, len + 1);
	return KETEN_OK;
}

/* An RFC 3339 time in UTC, "2026-12-05T09:00:00Z" (a fraction of a second
 * of up to 6 digits allowed), as µs since the epoch. */
static int
get_utc(struct loader *l, const yaml_node_t *n, const char *key, int64_t *out)
{
	const char *s = scalar(n);
	struct tm tm, asked;
	int64_t frac = 0;
	int used = 0, digits = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
	           &used) != 6 ||
	    used != 19 || tm.tm_year < 1970)
		goto refuse;
	if (s[used] == '.')
		for (used++; s[used] >= '0' && s[used] <= '9'; used++)
			if (++digits <= 6)
				frac = frac * 10 + (s[used] - '0');
	if (digits > 6 || (s[19] == '.' && digits == 0) ||
	    strcmp(s + used, "Z") != 0)
		goto refuse;
	for (; digits < 6; digits++)
		frac *= 10;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	asked = tm;
	/* timegm moves 2026-02-30 into March: refuse what it changed */
	if ((t = timegm(&tm)) == (time_t)-1 || tm.tm_mday != asked.tm_mday ||
	    tm.tm_mon != asked.tm_mon || tm.tm_hour != asked.tm_hour ||
	    tm.tm_min != asked.tm_min || tm.tm_sec != asked.tm_sec)
		goto refuse;
	*out = (int64_t)t * 1000000 + frac;
	return KETEN_OK;
refuse:
	return bad(l, n,
	           "'%s' must be an RFC 3339 time in UTC such as "
	           "2026-12-05T09:00:00Z, not '%.40s'",
	           key, s ? s : "(not a single value)");
}

/* A path; a relative one is taken under base (its first base_len bytes). */
static int
get_path_under(struct loader *l, const yaml_node_t *n, const char *key,
               const char *base, size_t base_len, char *out)
{
	char tmp[PATH_MAX];
	int rc;

	if ((rc = get_string(l, n, key, tmp, sizeof(tmp))) != KETEN_OK)
		return rc;
	if (tmp[0] == '/') {
		strcpy(out, tmp);
		return KETEN_OK;
	}
	if (base_len >= PATH_MAX ||
	    (size_t)snprintf(out, PATH_MAX, "%.*s/%s", (int)base_len, base,
	                     tmp) >= PATH_MAX)
		return bad(l, n, "'%s' is too long", key);
	return KETEN_OK;
}

/* A path; a relative one is taken under the config file's directory. */
static int
get_path(struct loader *l, const yaml_node_t *n, const char *key, char *out)
{
	return get_path_under(l, n, key, l->dir, strlen(l->dir), out);
}

/*
 * ketend's data_dir: under systemd, a relative one is taken under the
 * unit's StateDirectory=, the first of $STATE_DIRECTORY's colon-separated
 * paths; otherwise, and for a client, as any path (docs/ketend.md).
 */
static int
get_data_dir(struct loader *l, const yaml_node_t *n, const char *key, char *out)
{
	const char *state = l->client ? NULL : getenv("STATE_DIRECTORY");
	const char *s = scalar(n);
	size_t len;

	if (state == NULL || state[0] == '\0' || (s != NULL && s[0] == '/'))
		return get_path(l, n, key, out);
	len = strcspn(state, ":");
	if (state[0] != '/')
		return bad(l, n,
		           "$STATE_DIRECTORY's first path '%.*s' is not "
		           "absolute, so a relative '%s' has no place",
		           (int)(len < 100 ? len : 100), state, key);
	return get_path_under(l, n, key, state, len, out);
}

#define FOR_PAIRS(map, p)                                                      \
	for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start;            \
	     p < (map)->data.mapping.pairs.top; p++)

/* A mapping pair's key node, value node and key text ("" if not text). */
static const char *
pair(struct loader *l, const yaml_node_pair_t *p, yaml_node_t **k,
     yaml_node_t **n)
{
	*k = yaml_document_get_node(&l->doc, p->key);
	*n = yaml_document_get_node(&l->doc, p->value);
	return scalar(*k) ? scalar(*k) : "";
}

/* A key given twice would silently win: refuse it, naming both lines. */
static int
unique_keys(struct loader *l, yaml_node_t *map)
{
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k = yaml_document_get_node(&l->doc, p->key);
		for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p;
		     q++) {
			yaml_node_t *e =
			    yaml_document_get_node(&l->doc, q->key);
			if (scalar(k) && scalar(e) &&
			    strcmp(scalar(k), scalar(e)) == 0)
				return bad(l, k,
				           "'%s' is given twice (first on "
				           "line %lu)",
				           scalar(k),
				           (unsigned long)e->start_mark.line +
				               1);
		}
	}
	return KETEN_OK;
}

static int
load_limits(struct loader *l, yaml_node_t *map)
{
	struct config *c = l->c;
	unsigned long long v;
	int rc = KETEN_OK;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map, "'limits' must be a mapping");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "max_message_bytes") == 0) {
			rc = get_size(l, n, key, 4096, 64ULL << 20, &v);
			c->max_message_bytes = (size_t)v;
		} else if (strcmp(key, "map_size_mb") == 0) {
			rc = get_size(l, n, key, 1, 1ULL << 24, &v);
			c->map_size = (size_t)v << 20;
		} else if (strcmp(key, "map_max_mb") == 0) {
			rc = get_size(l, n, key, 0, 1ULL << 24, &v);
			c->map_max = (size_t)v << 20;
		} else if (strcmp(key, "workers") == 0) {
			rc = get_size(l, n, key, 1, 64, &v);
			c->workers = (unsigned)v;
		} else if (strcmp(key, "batch_max") == 0) {
			rc = get_size(l, n, key, 1, 65536, &v);
			c->batch_max = (unsigned)v;
		} else if (strcmp(key, "clock_behind_tolerance_s") == 0) {
			rc = get_size(l, n, key, 0, CONFIG_CLOCK_BEHIND_MAX_S,
			              &v);
			c->clock_behind_tolerance_s = (unsigned)v;
		} else if (strcmp(key, "peer_inbound_mb") == 0) {
			rc = get_size(l, n, key, 1, 1ULL << 16, &v);
			c->peer_inbound_bytes = v << 20;
		} else if (strcmp(key, "peer_outbound_mb") == 0) {
			rc = get_size(l, n, key, 1, 1ULL << 16, &v);
			c->peer_outbound_bytes = v << 20;
		} else if (strcmp(key, "inbound_budget_mb") == 0) {
			rc = get_size(l, n, key, 1, 1ULL << 20, &v);
			c->inbound_budget_bytes = v << 20;
		} else if (strcmp(key, "outbound_budget_mb") == 0) {
			rc = get_size(l, n, key, 1, 1ULL << 20, &v);
			c->outbound_budget_bytes = v << 20;
		} else if (strcmp(key, "max_connections") == 0) {
			rc = get_size(l, n, key, 16, 1ULL << 20, &v);
			c->max_connections = (unsigned)v;
		} else if (strcmp(key, "handshake_ms") == 0) {
			rc = get_size(l, n, key, 100, 60000, &v);
			c->handshake_ms = (unsigned)v;
		} else {
			rc = bad(l, k, "unknown limit '%s'", key);
		}
		if (rc != KETEN_OK)
			return rc;
	}
	return KETEN_OK;
}

size_t
config_hard_max(const struct config *c)
{
	return 2 * c->max_message_bytes + 65536;
}

/* The peer bounds must hold what an honest peer sends or is sent: four
 * of the largest frame the broker reads (config_hard_max, answered with
 * KETEN_E_TOO_BIG), since libzmq 4.3 holds the ROUTER's receive mark plus
 * two complete requests per connection and the mark is at least 2
 * (transport.c), and a budget at least one peer's. */
static int
check_peer_limits(struct loader *l, yaml_node_t *at)
{
	struct config *c = l->c;
	uint64_t frame = config_hard_max(c);
	uint64_t held = 4 * frame; /* the mark of 2, plus 2 */
	uint64_t mib = (uint64_t)1 << 20;

	/* Not given: the defaults, raised to what max_message_bytes needs. */
	if (c->peer_inbound_bytes == 0) {
		c->peer_inbound_bytes = (uint64_t)CONFIG_DEFAULT_PEER_IN_MB
		                        << 20;
		if (c->peer_inbound_bytes < held)
			c->peer_inbound_bytes = (held + mib - 1) / mib * mib;
	}
	if (c->peer_outbound_bytes == 0)
		c->peer_outbound_bytes = (uint64_t)CONFIG_DEFAULT_PEER_OUT_MB
		                         << 20;
	if (c->inbound_budget_bytes == 0) {
		c->inbound_budget_bytes = (uint64_t)CONFIG_DEFAULT_IN_BUDGET_MB
		                          << 20;
		if (c->inbound_budget_bytes < c->peer_inbound_bytes)
			c->inbound_budget_bytes = c->peer_inbound_bytes;
	}
	if (c->outbound_budget_bytes == 0) {
		c->outbound_budget_bytes =
		    (uint64_t)CONFIG_DEFAULT_OUT_BUDGET_MB << 20;
		if (c->outbound_budget_bytes < c->peer_outbound_bytes)
			c->outbound_budget_bytes = c->peer_outbound_bytes;
	}

	if (c->peer_inbound_bytes < held)
		return bad(l, at,
		           "limits.peer_inbound_mb (%llu MiB) must hold four "
		           "of the largest frame the broker reads, 4 x (2 x "
		           "max_message_bytes (%llu) + 64 KiB) = %llu bytes: "
		           "libzmq holds up to that many requests of a "
		           "connection",
		           (unsigned long long)(c->peer_inbound_bytes >> 20),
		           (unsigned long long)c->max_message_bytes,
		           (unsigned long long)held);
	if (c->inbound_budget_bytes < c->peer_inbound_bytes)
		return bad(l, at,
		           "limits.inbound_budget_mb is smaller than "
		           "limits.peer_inbound_mb");
	if (c->outbound_budget_bytes < c->peer_outbound_bytes)
		return bad(l, at,
		           "limits.outbound_budget_mb is smaller than "
		           "limits.peer_outbound_mb");
	return KETEN_OK;
}

static int
get_duration(struct loader *l, const yaml_node_t *n, const char *key,
             struct duration *out)
{
	const char *s = scalar(n);

	if (s == NULL)
		return bad(l, n,
		           "'deadlines.%s' must be one "
		           "duration: " CLOCK_DURATION_UNITS,
		           key);
	if (clock_parse_duration(out, s) != 0)
		return bad(l, n,
		           "'deadlines.%s' must be " CLOCK_DURATION_RULE
		           "; not '%s'",
		           key, s);
	return KETEN_OK;
}

static int
load_deadlines(struct loader *l, yaml_node_t *map)
{
	struct config *c = l->c;
	int rc;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map, "'deadlines' must be a mapping");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "acknowledge") == 0)
			rc = get_duration(l, n, key, &c->deadline_acknowledge);
		else if (strcmp(key, "referral") == 0)
			rc = get_duration(l, n, key, &c->deadline_referral);
		else if (strcmp(key, "handover") == 0)
			rc = get_duration(l, n, key, &c->deadline_handover);
		else
			rc = bad(l, k,
			         "unknown deadline '%s': use acknowledge, "
			         "referral or handover",
			         key);
		if (rc != KETEN_OK)
			return rc;
	}
	return KETEN_OK;
}

/*
 * metrics.listen: ADDRESS:PORT with a numeric IPv4 address, or
 * [ADDRESS]:PORT with an IPv6 one; port 1-65535. No name is looked up:
 * the listener binds where the file says, whatever DNS says today.
 */
static int
get_metrics_listen(struct loader *l, const yaml_node_t *n)
{
	struct config *c = l->c;
	char host[INET6_ADDRSTRLEN + 1];
	const char *s, *colon;
	unsigned long port = 0;
	char *end;
	size_t hlen;
	bool v6;
	int rc;

	if ((rc = get_string(l, n, "metrics.listen", c->metrics_listen,
	                     sizeof(c->metrics_listen))) != KETEN_OK)
		return rc;
	s = c->metrics_listen;
	v6 = s[0] == '[';
	colon = v6 ? strstr(s, "]:") : strrchr(s, ':');
	hlen = colon ? (size_t)(colon - s) - v6 : 0;
	if (colon != NULL && hlen > 0 && hlen < sizeof(host)) {
		memcpy(host, s + v6, hlen);
		host[hlen] = '\0';
		errno = 0;
		port = strtoul(colon + 1 + v6, &end, 10);
		if (errno != 0 || *end != '\0' || colon[1 + v6] < '0' ||
		    colon[1 + v6] > '9')
			port = 0;
	}
	memset(&c->metrics_addr, 0, sizeof(c->metrics_addr));
	if (port >= 1 && port <= 65535 && v6) {
		struct sockaddr_in6 *a =
		    (struct sockaddr_in6 *)&c->metrics_addr;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) == 1) {
			c->metrics_addr_len = sizeof(*a);
			return KETEN_OK;
		}
	} else if (port >= 1 && port <= 65535) {
		struct sockaddr_in *a = (struct sockaddr_in *)&c->metrics_addr;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) == 1) {
			c->metrics_addr_len = sizeof(*a);
			return KETEN_OK;
		}
	}
	return bad(l, n,
	           "metrics.listen '%s' is not an address and port: write "
	           "127.0.0.1:9474, or [::1]:9474 for IPv6 (a numeric "
	           "address, no name; port 1-65535)",
	           s);
}

static int
load_metrics(struct loader *l, yaml_node_t *map)
{
	int rc = KETEN_OK;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map, "'metrics' must be a mapping (listen: ...)");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "listen") == 0)
			rc = get_metrics_listen(l, n);
		else
			rc = bad(l, k,
			         "unknown metrics setting '%s': use listen",
			         key);
		if (rc != KETEN_OK)
			return rc;
	}
	if (l->c->metrics_listen[0] == '\0')
		return bad(l, map, "'metrics' needs listen (127.0.0.1:9474)");
	return KETEN_OK;
}

/* A route's from or to: a kind word or "any"; never auditor. */
static int
get_route_kind(struct loader *l, const yaml_node_t *n, const char *key,
               enum keten_kind *out)
{
	const char *s = scalar(n);

	if (s != NULL && strcmp(s, "any") == 0) {
		*out = KETEN_KIND_NONE;
		return KETEN_OK;
	}
	if (s != NULL && strcmp(s, "auditor") == 0)
		return bad(l, n,
		           "'%s: auditor' cannot be routed: an auditor sends "
		           "and receives nothing",
		           key);
	for (size_t i = 0; s != NULL && i < sizeof(kinds) / sizeof(kinds[0]);
	     i++)
		if (strcmp(s, kinds[i].word) == 0) {
			*out = kinds[i].kind;
			return KETEN_OK;
		}
	return bad(l, n,
	           "unknown kind '%s' in route '%s': use local_team, "
	           "veilig_thuis, gi, raad or any",
	           s ? s : "(not a word)", key);
}

static int
get_route_type(struct loader *l, const yaml_node_t *n, uint32_t *out)
{
	const char *s = scalar(n);
	uint32_t t = s ? keten_message_type_parse(s) : 0;

	switch (t) {
	case KETEN_MSG_REFERRAL:
	case KETEN_MSG_HANDOVER:
	case KETEN_MSG_FEEDBACK:
		*out = t;
		return KETEN_OK;
	case 0:
		return bad(l, n,
		           "unknown message type '%s' in route: use referral, "
		           "handover or feedback",
		           s ? s : "(not a word)");
	case KETEN_MSG_CLOSE:
		return bad(l, n,
		           "close has no route: it goes from the case's holder "
		           "to every agency in the case; only referral, "
		           "handover and feedback are routed");
	default:
		return bad(l, n,
		           "%s has no route: answers go back along the offer "
		           "they answer; only referral, handover and feedback "
		           "are routed",
		           keten_message_type_name(t));
	}
}

static int
load_route(struct loader *l, yaml_node_t *map, struct route *r)
{
	int have = 0, rc;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map,
		           "each route must be a mapping like {type: referral, "
		           "from: local_team, to: veilig_thuis}");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "type") == 0) {
			rc = get_route_type(l, n, &r->type);
			have |= 1;
		} else if (strcmp(key, "from") == 0) {
			rc = get_route_kind(l, n, key, &r->from);
			have |= 2;
		} else if (strcmp(key, "to") == 0) {
			rc = get_route_kind(l, n, key, &r->to);
			have |= 4;
		} else {
			rc = bad(l, k, "unknown route setting '%s'", key);
		}
		if (rc != KETEN_OK)
			return rc;
	}
	if (have != 7)
		return bad(l, map, "a route needs type, from and to");
	return KETEN_OK;
}

/* Whether row a allows everything row b allows ("any" covers a kind). */
static int
route_covers(const struct route *a, const struct route *b)
{
	return a->type == b->type &&
	       (a->from == KETEN_KIND_NONE || a->from == b->from) &&
	       (a->to == KETEN_KIND_NONE || a->to == b->to);
}

/* "handover veilig_thuis -> gi", for messages. */
static void
route_words(char *out, size_t n, const struct route *r)
{
	snprintf(out, n, "%s %s -> %s", keten_message_type_name(r->type),
	         config_route_kind_name(r->from),
	         config_route_kind_name(r->to));
}

static int
load_routes(struct loader *l, yaml_node_t *seq)
{
	struct config *c = l->c;
	size_t n;
	int rc;

	/* "routes:" with every row commented out is null, not a list. */
	if (seq->type == YAML_SCALAR_NODE &&
	    (strcmp(scalar(seq), "") == 0 || strcmp(scalar(seq), "~") == 0 ||
	     strcmp(scalar(seq), "null") == 0))
		n = 0;
	else if (seq->type != YAML_SEQUENCE_NODE)
		return bad(l, seq, "'routes' must be a list");
	else
		n = (size_t)(seq->data.sequence.items.top -
		             seq->data.sequence.items.start);
	if (n == 0)
		return bad(l, seq,
		           "routes is empty: no message could be sent; omit it "
		           "for the default table");
	if ((c->routes = calloc(n, sizeof(*c->routes))) == NULL)
		return error_set(l->err, KETEN_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(
		    &l->doc, seq->data.sequence.items.start[i]);
		struct route *r = &c->routes[i];

		if ((rc = load_route(l, item, r)) != KETEN_OK)
			return rc;
		/* A row that another row already allows is a duplicate:
		 * refuse it rather than guess which one was meant. */
		for (size_t j = 0; j < i; j++) {
			const struct route *q = &c->routes[j];
			yaml_node_t *e = yaml_document_get_node(
			    &l->doc, seq->data.sequence.items.start[j]);
			unsigned long at =
			    (unsigned long)e->start_mark.line + 1;
			char rs[64], qs[64];

			route_words(rs, sizeof(rs), r);
			route_words(qs, sizeof(qs), q);
			if (route_covers(q, r) && route_covers(r, q))
				return bad(l, item,
				           "route %s is given twice (first on "
				           "line %lu)",
				           rs, at);
			if (route_covers(q, r))
				return bad(l, item,
				           "route %s is already allowed by %s "
				           "on line %lu",
				           rs, qs, at);
			if (route_covers(r, q))
				return bad(l, item,
				           "route %s also allows %s on line "
				           "%lu: give each route once",
				           rs, qs, at);
		}
		c->n_routes++;
	}
	return KETEN_OK;
}

/*
 * ketend's config may leave out the broker's public keys when it names
 * the key file: they are read from it (and its secrets wiped at once),
 * so a config written before the key existed (the package's example,
 * whose key postinst makes) needs no editing. Everyone else must have
 * them in the config: they cannot read the broker's key file, and must
 * not need to. n: the key_file node, for messages.
 */
static int
broker_keys_from_file(struct loader *l, const yaml_node_t *n)
{
	struct config *c = l->c;
	struct keys *k = NULL;
	int rc;

	/* keys_load's refusal names the file and the fix (chmod, sudo -u):
	 * passed up unchanged, as ketend's start would give it. */
	if ((rc = keys_load(&k, c->broker_key_file, l->err)) != KETEN_OK)
		return rc;
	if (strcmp(k->id, CONFIG_BROKER_ID) != 0) {
		rc = error_set(l->err, KETEN_E_CONFIG,
		               "%s:%lu: broker.key_file %s holds the keys of "
		               "agency '%s', not the broker's (keten keygen "
		               "--broker makes those)",
		               c->path, (unsigned long)n->start_mark.line + 1,
		               c->broker_key_file, k->id);
		keys_destroy(&k);
		return rc;
	}
	memcpy(c->broker_sign_pk, k->sign_pk, 32);
	memcpy(c->broker_curve_pk, k->curve_pk, 32);
	c->broker_keys_from_file = true;
	keys_destroy(&k);
	return KETEN_OK;
}

static int
load_broker(struct loader *l, yaml_node_t *map, int *have)
{
	yaml_node_t *key_file = NULL;
	int rc = KETEN_OK;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map, "'broker' must be a mapping");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "key_file") == 0) {
			rc = get_path(l, n, key, l->c->broker_key_file);
			key_file = n;
		} else if (strcmp(key, "sign_key") == 0) {
			rc = get_key(l, n, key, l->c->broker_sign_pk);
			*have |= 1;
		} else if (strcmp(key, "transport_key") == 0) {
			rc = get_key(l, n, key, l->c->broker_curve_pk);
			*have |= 2;
		} else if (strcmp(key, "rotation") == 0) {
			rc = get_rotation(l, n, "broker.rotation",
			                  &l->c->broker_rotation,
			                  &l->c->broker_rotation_len,
			                  &l->c->broker_rotation_line);
		} else {
			rc = bad(l, k, "unknown broker setting '%s'", key);
		}
		if (rc != KETEN_OK)
			return rc;
	}
	if (*have == 1 || *have == 2)
		return bad(l, map,
		           "'broker' has %s but no %s: give both (keten keygen "
		           "--show BROKER_KEY_FILE prints them)",
		           *have == 1 ? "sign_key" : "transport_key",
		           *have == 1 ? "transport_key" : "sign_key");
	if (*have == 3)
		return KETEN_OK;
	if (l->client)
		return error_set(
		    l->err, KETEN_E_CONFIG,
		    "%s:%lu: 'broker' needs sign_key and transport_key here "
		    "(only ketend reads the key file); 'keten keygen --show "
		    "%s' prints the lines to add",
		    l->c->path, (unsigned long)map->start_mark.line + 1,
		    key_file ? l->c->broker_key_file : "/etc/keten/broker.key");
	if (key_file == NULL)
		return bad(l, map,
		           "'broker' needs key_file (ketend reads sign_key and "
		           "transport_key from it if they are not given)");
	if ((rc = broker_keys_from_file(l, key_file)) != KETEN_OK)
		return rc;
	*have = 3;
	return KETEN_OK;
}

static int
load_agency(struct loader *l, yaml_node_t *map, struct agency *a)
{
	int have = 0, rc = KETEN_OK;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map, "each agency must be a mapping");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	a->line = (int)map->start_mark.line + 1;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "id") == 0) {
			rc = get_string(l, n, key, a->id, sizeof(a->id));
			if (rc == KETEN_OK && !text_valid_id(a->id))
				rc = bad(
				    l, n,
				    "agency id '%s' is invalid: use 1-63 of "
				    "a-z, 0-9 and '-'",
				    a->id);
			if (rc == KETEN_OK &&
			    strcmp(a->id, CONFIG_BROKER_ID) == 0)
				rc = bad(l, n,
				         "agency id 'broker' is reserved: it "
				         "signs the roster records; choose "
				         "another id");
			have |= 1;
		} else if (strcmp(key, "name") == 0) {
			rc = get_string(l, n, key, a->name, sizeof(a->name));
			/* The roster's rule (PROTOCOL.md 22.1), checked where
			 * the line is known. */
			if (rc == KETEN_OK && !text_valid_name(a->name))
				rc = bad(l, n,
				         "'name' must be 1-127 bytes of UTF-8 "
				         "text without control characters");
			have |= 2;
		} else if (strcmp(key, "kind") == 0) {
			const char *s = scalar(n) ? scalar(n) : "";
			for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]);
			     i++)
				if (strcmp(s, kinds[i].word) == 0)
					a->kind = kinds[i].kind;
			if (a->kind == KETEN_KIND_NONE)
				rc = bad(l, n,
				         "unknown kind '%s': use local_team, "
				         "veilig_thuis, gi, raad or auditor",
				         s);
			have |= 4;
		} else if (strcmp(key, "sign_key") == 0) {
			rc = get_key(l, n, key, a->sign_pk);
			have |= 8;
		} else if (strcmp(key, "box_key") == 0) {
			rc = get_key(l, n, key, a->box_pk);
			have |= 16;
		} else if (strcmp(key, "transport_key") == 0) {
			rc = get_key(l, n, key, a->curve_pk);
			have |= 32;
		} else if (strcmp(key, "rotation") == 0) {
			rc = get_rotation(l, n, key, &a->rotation,
			                  &a->rotation_len, &a->rotation_line);
		} else {
			rc = bad(l, k, "unknown agency setting '%s'", key);
		}
		if (rc != KETEN_OK)
			return rc;
	}
	if (have != 63)
		return bad(l, map,
		           "agency needs id, name, kind, sign_key, box_key and "
		           "transport_key");
	return KETEN_OK;
}

static int
load_agencies(struct loader *l, yaml_node_t *seq)
{
	struct config *c = l->c;
	size_t n;
	int rc;

	if (seq->type != YAML_SEQUENCE_NODE)
		return bad(l, seq, "'agencies' must be a list");
	n = (size_t)(seq->data.sequence.items.top -
	             seq->data.sequence.items.start);
	/* A broker serves at least one agency: a config that lost its list
	 * must never reach a reload, which would record every agency as
	 * gone (PROTOCOL.md 22.7). Only a client's config may have none. */
	if (n == 0 && !l->client)
		return bad(l, seq,
		           "'agencies' is empty: a broker serves at "
		           "least one agency");
	if (n > 0 && (c->agencies = calloc(n, sizeof(*c->agencies))) == NULL)
		return error_set(l->err, KETEN_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(
		    &l->doc, seq->data.sequence.items.start[i]);
		struct agency *a = &c->agencies[i];

		c->n_agencies++; /* config_destroy frees its rotation */
		if ((rc = load_agency(l, item, a)) != KETEN_OK)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->agencies[j].id, a->id) == 0)
				return bad(l, item,
				           "agency '%s' is defined twice",
				           a->id);
			if (memcmp(c->agencies[j].curve_pk, a->curve_pk, 32) ==
			    0)
				return bad(
				    l, item,
				    "agency '%s' has the same transport_key as "
				    "'%s'",
				    a->id, c->agencies[j].id);
		}
		if (memcmp(a->curve_pk, c->broker_curve_pk, 32) == 0)
			return bad(
			    l, item,
			    "agency '%s' uses the broker's transport_key",
			    a->id);
	}
	return KETEN_OK;
}

static int
load_witness(struct loader *l, yaml_node_t *map, struct witness *w)
{
	int have = 0, rc = KETEN_OK;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map,
		           "each witness must be a mapping like {name: ..., "
		           "cosign_key: ..., transport_key: ...}");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	w->line = (int)map->start_mark.line + 1;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "name") == 0) {
			rc = get_string(l, n, key, w->name, sizeof(w->name));
			if (rc == KETEN_OK && !text_valid_witness_name(w->name))
				rc = bad(
				    l, n,
				    "witness name '%s' is invalid: use 1-%d "
				    "printable ASCII characters, no space "
				    "and no '+'",
				    w->name, CONFIG_WITNESS_NAME_MAX);
			have |= 1;
		} else if (strcmp(key, "cosign_key") == 0) {
			rc = get_key(l, n, key, w->cosign_pk);
			have |= 2;
		} else if (strcmp(key, "transport_key") == 0) {
			rc = get_key(l, n, key, w->curve_pk);
			have |= 4;
		} else {
			rc = bad(l, k, "unknown witness setting '%s'", key);
		}
		if (rc != KETEN_OK)
			return rc;
	}
	if (have != 7)
		return bad(
		    l, map,
		    "a witness needs name, cosign_key and transport_key");
	return KETEN_OK;
}

/* Witnesses after the agencies: no transport key may serve two peers. */
static int
load_witnesses(struct loader *l, yaml_node_t *seq)
{
	struct config *c = l->c;
	size_t n;
	int rc;

	if (seq->type != YAML_SEQUENCE_NODE)
		return bad(l, seq, "'witnesses' must be a list");
	n = (size_t)(seq->data.sequence.items.top -
	             seq->data.sequence.items.start);
	if (n > CONFIG_WITNESSES_MAX)
		return bad(l, seq, "%zu witnesses are named; at most %d may be",
		           n, CONFIG_WITNESSES_MAX);
	if (n > 0 && (c->witnesses = calloc(n, sizeof(*c->witnesses))) == NULL)
		return error_set(l->err, KETEN_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(
		    &l->doc, seq->data.sequence.items.start[i]);
		struct witness *w = &c->witnesses[i];
		const struct agency *a;

		if ((rc = load_witness(l, item, w)) != KETEN_OK)
			return rc;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->witnesses[j].name, w->name) == 0)
				return bad(l, item,
				           "witness '%s' is defined twice",
				           w->name);
			if (memcmp(c->witnesses[j].curve_pk, w->curve_pk, 32) ==
			    0)
				return bad(l, item,
				           "witness '%s' has the same "
				           "transport_key as witness '%s'",
				           w->name, c->witnesses[j].name);
		}
		if ((a = config_find_transport(c, w->curve_pk)) != NULL)
			return bad(l, item,
			           "witness '%s' has the same transport_key as "
			           "agency '%s'; give the witness keys of its "
			           "own (keten keygen --witness)",
			           w->name, a->id);
		if (memcmp(w->curve_pk, c->broker_curve_pk, 32) == 0)
			return bad(l, item,
			           "witness '%s' uses the broker's "
			           "transport_key",
			           w->name);
		c->n_witnesses++;
	}
	return KETEN_OK;
}

static int
load_revocation(struct loader *l, yaml_node_t *map, struct revocation *r)
{
	int have = 0, rc = KETEN_OK;

	if (map->type != YAML_MAPPING_NODE)
		return bad(l, map,
		           "each revoked key must be a mapping of agency, "
		           "sign_key, compromised_at and reason");
	if (unique_keys(l, map) != KETEN_OK)
		return KETEN_E_CONFIG;
	r->line = (int)map->start_mark.line + 1;
	FOR_PAIRS(map, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "agency") == 0) {
			rc = get_string(l, n, "revoked.agency", r->agency,
			                sizeof(r->agency));
			if (rc == KETEN_OK &&
			    (!text_valid_id(r->agency) ||
			     strcmp(r->agency, CONFIG_BROKER_ID) == 0))
				rc = bad(l, n,
				         "'revoked.agency' must be an agency "
				         "id, not '%s' (the broker's key is "
				         "replaced by rotating it)",
				         r->agency);
			have |= 1;
		} else if (strcmp(key, "sign_key") == 0) {
			rc = get_key(l, n, "revoked.sign_key", r->sign_pk);
			have |= 2;
		} else if (strcmp(key, "compromised_at") == 0) {
			rc = get_utc(l, n, "revoked.compromised_at",
			             &r->compromised_at_us);
			have |= 4;
		} else if (strcmp(key, "reason") == 0) {
			rc = get_text(l, n, "revoked.reason", r->reason,
			              CONFIG_REASON_MAX);
			have |= 8;
		} else {
			rc = bad(l, k, "unknown setting '%s' of a revoked key",
			         key);
		}
		if (rc != KETEN_OK)
			return rc;
	}
	if (have != 15)
		return bad(l, map,
		           "a revoked key needs agency, sign_key, "
		           "compromised_at and reason");
	return KETEN_OK;
}

/* The top-level `revoked:` list; a key revoked twice is refused. */
static int
load_revoked(struct loader *l, yaml_node_t *seq)
{
	struct config *c = l->c;
	size_t n;
	int rc;

	if (seq->type != YAML_SEQUENCE_NODE)
		return bad(l, seq, "'revoked' must be a list");
	n = (size_t)(seq->data.sequence.items.top -
	             seq->data.sequence.items.start);
	if (n > 0 && (c->revoked = calloc(n, sizeof(*c->revoked))) == NULL)
		return error_set(l->err, KETEN_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *item = yaml_document_get_node(
		    &l->doc, seq->data.sequence.items.start[i]);
		struct revocation *r = &c->revoked[i];

		if ((rc = load_revocation(l, item, r)) != KETEN_OK)
			return rc;
		for (size_t j = 0; j < i; j++)
			if (memcmp(c->revoked[j].sign_pk, r->sign_pk, 32) == 0)
				return bad(l, item,
				           "this sign_key is revoked twice "
				           "(first on line %d)",
				           c->revoked[j].line);
		c->n_revoked++;
	}
	return KETEN_OK;
}

static int
load_root(struct loader *l, yaml_node_t *root)
{
	struct config *c = l->c;
	yaml_node_t *agencies = NULL, *limits = NULL, *routes = NULL;
	yaml_node_t *witnesses = NULL, *quorum = NULL, *revoked = NULL;
	unsigned long long v = 0;
	int have_broker = 0, rc = KETEN_OK;

	if (root == NULL)
		return error_set(
		    l->err, KETEN_E_CONFIG,
		    "%s:1: the file is empty; it must be a YAML mapping "
		    "(region:, listen:, ...)",
		    l->c->path);
	if (root->type != YAML_MAPPING_NODE)
		return bad(l, root, "the file must be a YAML mapping");
	if (unique_keys(l, root) != KETEN_OK)
		return KETEN_E_CONFIG;
	/* The broker's keys first: agencies are checked against them. */
	FOR_PAIRS(root, p)
	{
		yaml_node_t *k, *n;
		const char *key = pair(l, p, &k, &n);

		if (strcmp(key, "region") == 0) {
			rc =
			    get_string(l, n, key, c->region, sizeof(c->region));
			if (rc == KETEN_OK && !text_valid_id(c->region))
				rc = bad(
				    l, n,
				    "region '%s' is invalid: use a-z, 0-9 and "
				    "'-'",
				    c->region);
		} else if (strcmp(key, "listen") == 0) {
			rc =
			    get_string(l, n, key, c->listen, sizeof(c->listen));
			if (rc == KETEN_OK &&
			    strncmp(c->listen, "tcp://", 6) != 0)
				rc = bad(
				    l, n,
				    "'listen' must be a tcp:// endpoint, not "
				    "'%s'",
				    c->listen);
		} else if (strcmp(key, "connect") == 0) {
			rc = get_string(l, n, key, c->connect,
			                sizeof(c->connect));
		} else if (strcmp(key, "data_dir") == 0) {
			rc = get_data_dir(l, n, key, c->data_dir);
		} else if (strcmp(key, "limits") == 0) {
			limits = n;
			rc = load_limits(l, n);
		} else if (strcmp(key, "broker") == 0) {
			rc = load_broker(l, n, &have_broker);
		} else if (strcmp(key, "agencies") == 0) {
			agencies = n;
		} else if (strcmp(key, "deadlines") == 0) {
			rc = load_deadlines(l, n);
		} else if (strcmp(key, "routes") == 0) {
			routes = n;
			rc = load_routes(l, n);
		} else if (strcmp(key, "witnesses") == 0) {
			witnesses = n;
		} else if (strcmp(key, "revoked") == 0) {
			revoked = n;
		} else if (strcmp(key, "metrics") == 0) {
			rc = load_metrics(l, n);
		} else if (strcmp(key, "witness_quorum") == 0) {
			quorum = n;
			rc = get_size(l, n, key, 1, 1024, &v);
			c->witness_quorum = (unsigned)v;
		} else {
			rc = bad(l, k, "unknown setting '%s'", key);
		}
		if (rc != KETEN_OK)
			return rc;
	}
	if (c->region[0] == '\0')
		return bad(l, root, "'region' is missing");
	/* A client without an endpoint can still audit offline; libketen
	 * refuses to connect without one (client.c). */
	if (c->listen[0] == '\0' && !l->client)
		return bad(l, root, "'listen' is missing");
	if (c->data_dir[0] == '\0' && !l->client)
		return bad(l, root, "'data_dir' is missing");
	if (have_broker != 3)
		return bad(l, root, "'broker' is missing");
	if (agencies == NULL && !l->client)
		return bad(l, root,
		           "'agencies' is missing: a broker serves at "
		           "least one agency");
	if (c->connect[0] == '\0')
		strcpy(c->connect, c->listen);
	if (note_broker_key(&c->broker_key, c->region, c->broker_sign_pk) != 0)
		return error_set(l->err, KETEN_E_INTERNAL,
		                 "region '%s' makes no checkpoint key name",
		                 c->region);
	if (c->map_max != 0 && c->map_max < c->map_size)
		return bad(
		    l, limits ? limits : root,
		    "limits.map_max_mb is smaller than limits.map_size_mb");
	if ((rc = check_peer_limits(l, limits ? limits : root)) != KETEN_OK)
		return rc;
	if (routes == NULL) {
		c->routes = malloc(sizeof(config_default_routes));
		if (c->routes == NULL)
			return error_set(l->err, KETEN_E_NOMEM,
			                 "out of memory");
		memcpy(c->routes, config_default_routes,
		       sizeof(config_default_routes));
		c->n_routes = config_n_default_routes;
	}
	if (agencies != NULL && (rc = load_agencies(l, agencies)) != KETEN_OK)
		return rc;
	if (revoked != NULL && (rc = load_revoked(l, revoked)) != KETEN_OK)
		return rc;
	if (witnesses != NULL &&
	    (rc = load_witnesses(l, witnesses)) != KETEN_OK)
		return rc;
	if (quorum != NULL && c->witness_quorum > c->n_witnesses)
		return bad(l, quorum,
		           "witness_quorum is %u but %zu witness%s named",
		           c->witness_quorum, c->n_witnesses,
		           c->n_witnesses == 1 ? " is" : "es are");
	if (quorum == NULL && c->n_witnesses > 0)
		c->witness_quorum = 1;
	return KETEN_OK;
}

/*
 * The config file's bytes (*buf, malloc'd, NUL-terminated) after the
 * checks of fileck.h: a regular file, refused at once otherwise; not
 * writable by group or others, nor owned by another user, nor in a
 * directory they may write; at most CONFIG_FILE_MAX bytes; not a key
 * file given by mistake.
 */
static int
config_slurp(char **buf, size_t *n, const char *path, struct keten_error *err)
{
	struct stat st;
	ssize_t got;
	int fd, rc;

	*buf = NULL;
	*n = 0;
	if ((rc = fileck_open(&fd, &st, path, "config file", KETEN_E_CONFIG,
	                      err)) != KETEN_OK)
		return rc;
	if ((rc = fileck_strict(&st, path, "config file", KETEN_E_CONFIG,
	                        err)) != KETEN_OK ||
	    (rc = fileck_parent(path, "config file", KETEN_E_CONFIG, err)) !=
	        KETEN_OK) {
		close(fd);
		return rc;
	}
	if (st.st_size > CONFIG_FILE_MAX) {
		close(fd);
		return error_set(err, KETEN_E_CONFIG,
		                 "%s: is %lld bytes; a region config may be at "
		                 "most %d bytes (1 MiB)",
		                 path, (long long)st.st_size, CONFIG_FILE_MAX);
	}
	if ((*buf = malloc(CONFIG_FILE_MAX + 2)) == NULL) {
		close(fd);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	/* One byte more than allowed: a file that grew since fstat. */
	while (*n < CONFIG_FILE_MAX + 1) {
		got = read(fd, *buf + *n, CONFIG_FILE_MAX + 1 - *n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = error_set(err, KETEN_E_CONFIG,
			               "%s: cannot read: %s", path,
			               strerror(errno));
			break;
		}
		if (got == 0)
			break;
		*n += (size_t)got;
	}
	close(fd);
	if (rc == KETEN_OK && *n > CONFIG_FILE_MAX)
		rc = error_set(err, KETEN_E_CONFIG,
		               "%s: is more than %d bytes; a region config may "
		               "be at most 1 MiB",
		               path, CONFIG_FILE_MAX);
	if (rc == KETEN_OK && keys_is_key_file(*buf, *n))
		rc = error_set(err, KETEN_E_CONFIG,
		               "%s: is a keten key file, not a region config "
		               "(did you mean -k?)",
		               path);
	if (rc != KETEN_OK) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	(*buf)[*n] = '\0';
	return KETEN_OK;
}

/* An alias, or a node that carries an anchor (&x), is refused: a region
 * config has no use for them, and libyaml's loader pays for each anchor
 * a search of all those before it. */
static int
config_shape_anchor(const yaml_event_t *ev, const char *path,
                    struct keten_error *err)
{
	const yaml_char_t *anchor = NULL;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		anchor = ev->data.alias.anchor;
		break;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		break;
	default:
		break;
	}
	if (anchor == NULL)
		return KETEN_OK;
	return error_set(
	    err, KETEN_E_CONFIG,
	    "%s:%lu: %s%.32s: anchors and aliases (&x, *x) are not "
	    "allowed in a region config",
	    path, (unsigned long)ev->start_mark.line + 1,
	    ev->type == YAML_ALIAS_EVENT ? "*" : "&", (const char *)anchor);
}

/*
 * Refuses, from libyaml's events and before the document is built, a
 * document nested deeper than CONFIG_DEPTH_MAX, a mapping of more than
 * CONFIG_KEYS_MAX keys, more than CONFIG_NODES_MAX nodes in all, and any
 * anchor or alias: each stops as soon as it is met, so a hostile file
 * costs time in proportion to the bounds, not to its size (the loader's
 * duplicate-key check is quadratic in a mapping's keys, and it registers
 * anchors by a linear search, quadratic in their number).
 */
static int
config_shape_check(const char *buf, size_t n, const char *path,
                   struct keten_error *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	size_t items[CONFIG_DEPTH_MAX + 1];
	bool mapping[CONFIG_DEPTH_MAX + 1];
	unsigned depth = 0;
	size_t nodes = 0;
	int rc = KETEN_OK, done = 0;

	if (!yaml_parser_initialize(&parser))
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, n);
	items[0] = 0;
	mapping[0] = false;
	while (!done && rc == KETEN_OK) {
		if (!yaml_parser_parse(&parser, &ev))
			break; /* yaml_parser_load reports it, with its line */
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_ALIAS_EVENT:
			rc = config_shape_anchor(&ev, path, err);
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_SCALAR_EVENT:
			if ((rc = config_shape_anchor(&ev, path, err)) !=
			    KETEN_OK)
				break;
			if (++nodes > CONFIG_NODES_MAX) {
				rc = error_set(
				    err, KETEN_E_CONFIG,
				    "%s:%lu: more than %d values in all; a "
				    "region config may have at most %d",
				    path, (unsigned long)ev.start_mark.line + 1,
				    CONFIG_NODES_MAX, CONFIG_NODES_MAX);
				break;
			}
			if (mapping[depth] &&
			    ++items[depth] > 2 * CONFIG_KEYS_MAX) {
				rc = error_set(
				    err, KETEN_E_CONFIG,
				    "%s:%lu: a mapping has more than %d keys",
				    path, (unsigned long)ev.start_mark.line + 1,
				    CONFIG_KEYS_MAX);
				break;
			}
			if (ev.type != YAML_MAPPING_START_EVENT &&
			    ev.type != YAML_SEQUENCE_START_EVENT)
				break;
			if (++depth > CONFIG_DEPTH_MAX) {
				rc = error_set(
				    err, KETEN_E_CONFIG,
				    "%s:%lu: nested more than %d "
				    "levels deep",
				    path, (unsigned long)ev.start_mark.line + 1,
				    CONFIG_DEPTH_MAX);
				break;
			}
			items[depth] = 0;
			mapping[depth] = ev.type == YAML_MAPPING_START_EVENT;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			if (depth > 0)
				depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int
config_read(struct config **out, const char *path, bool client,
            struct keten_error *err)
{
	struct loader l = {.err = err, .client = client};
	yaml_parser_t parser;
	char tmp[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int rc;

	if (strlen(path) >= sizeof(tmp))
		return error_set(err, KETEN_E_CONFIG, "config path too long");
	if ((l.c = calloc(1, sizeof(*l.c))) == NULL)
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	strcpy(l.c->path, path);
	strcpy(tmp, path);
	if (realpath(dirname(tmp), l.dir) == NULL)
		strcpy(l.dir, ".");
	l.c->max_message_bytes = CONFIG_DEFAULT_MAX_MESSAGE;
	l.c->map_size = (size_t)CONFIG_DEFAULT_MAP_MB << 20;
	l.c->workers = CONFIG_DEFAULT_WORKERS;
	l.c->batch_max = CONFIG_DEFAULT_BATCH_MAX;
	l.c->clock_behind_tolerance_s = CONFIG_DEFAULT_CLOCK_BEHIND_S;
	l.c->handshake_ms = CONFIG_DEFAULT_HANDSHAKE_MS;
	l.c->max_connections = CONFIG_DEFAULT_MAX_CONNECTIONS;
	l.c->deadline_acknowledge.working_days = CONFIG_DEFAULT_ACKNOWLEDGE_WD;
	l.c->deadline_referral.working_days = CONFIG_DEFAULT_REFERRAL_WD;
	l.c->deadline_handover.working_days = CONFIG_DEFAULT_HANDOVER_WD;

	if ((rc = config_slurp(&buf, &len, path, err)) != KETEN_OK ||
	    (rc = config_shape_check(buf, len, path, err)) != KETEN_OK) {
		free(buf);
		config_destroy(&l.c);
		return rc;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(buf);
		config_destroy(&l.c);
		return error_set(err, KETEN_E_NOMEM, "out of memory");
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &l.doc)) {
		rc = error_set(err, KETEN_E_CONFIG, "%s:%lu: %s", path,
		               (unsigned long)parser.problem_mark.line + 1,
		               parser.problem ? parser.problem
		                              : "not valid YAML");
		yaml_parser_delete(&parser);
		free(buf);
		config_destroy(&l.c);
		return rc;
	}
	rc = load_root(&l, yaml_document_get_root_node(&l.doc));
	yaml_document_delete(&l.doc);
	yaml_parser_delete(&parser);
	free(buf);
	if (rc != KETEN_OK) {
		config_destroy(&l.c);
		return rc;
	}
	*out = l.c;
	return KETEN_OK;
}

int
config_load(struct config **out, const char *path, struct keten_error *err)
{
	return config_read(out, path, false, err);
}

int
config_load_client(struct config **out, const char *path,
                   struct keten_error *err)
{
	return config_read(out, path, true, err);
}

void
config_destroy(struct config **c)
{
	if (c == NULL || *c == NULL)
		return;
	for (size_t i = 0; i < (*c)->n_agencies; i++)
		free((*c)->agencies[i].rotation);
	free((*c)->agencies);
	free((*c)->broker_rotation);
	free((*c)->revoked);
	free((*c)->routes);
	free((*c)->witnesses);
	free(*c);
	*c = NULL;
}

const struct agency *
config_find(const struct config *c, const char *id)
{
	for (size_t i = 0; i < c->n_agencies; i++)
		if (strcmp(c->agencies[i].id, id) == 0)
			return &c->agencies[i];
	return NULL;
}

const struct agency *
config_find_transport(const struct config *c, const uint8_t pk[32])
{
	for (size_t i = 0; i < c->n_agencies; i++)
		if (memcmp(c->agencies[i].curve_pk, pk, 32) == 0)
			return &c->agencies[i];
	return NULL;
}

const struct witness *
config_find_witness(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->n_witnesses; i++)
		if (strcmp(c->witnesses[i].name, name) == 0)
			return &c->witnesses[i];
	return NULL;
}

const struct witness *
config_find_witness_transport(const struct config *c, const uint8_t pk[32])
{
	for (size_t i = 0; i < c->n_witnesses; i++)
		if (memcmp(c->witnesses[i].curve_pk, pk, 32) == 0)
			return &c->witnesses[i];
	return NULL;
}
