/*
 * The keten command-line tool: shared options, exit codes and output
 * helpers. Uses only the public keten.h, like any agency system would.
 */
#ifndef KETEN_CLI_H
#define KETEN_CLI_H

#include <stdio.h>

#include "keten.h"

/* Exit codes: what a script can rely on. */
#define EXIT_OK      0
#define EXIT_REFUSED 1 /* the broker refused, or a verification failed */
#define EXIT_USAGE   2 /* bad arguments, config or key file */
#define EXIT_CONNECT 3 /* cannot reach the broker */

/* --config/--key, defaulting to $KETEN_CONFIG / $KETEN_KEY. */
struct cli_common {
	const char *config;
	const char *key;
	int timeout_ms;
	int json;
};

/* Handles a common option; returns 1 if ch was one, 0 if not. */
int cli_common_option(struct cli_common *o, int ch, const char *arg);
void cli_common_defaults(struct cli_common *o);
/* Connects as the key's agency; prints the error and returns NULL. */
struct keten_client *cli_connect(const struct cli_common *o);
/* Prints "keten VERB: message" and returns the exit code for err. */
int cli_fail(const char *verb, const struct keten_error *err);
/* The exit code for an error code. */
int cli_exit_code(int code);

/* Common long options, to splice into each verb's table. */
#define CLI_COMMON_OPTIONS                                                     \
	{"config", required_argument, NULL, 'c'},                              \
	    {"key", required_argument, NULL, 'k'},                             \
	    {"timeout", required_argument, NULL, 'T'},                         \
	{                                                                      \
		"json", no_argument, NULL, 'j'                                 \
	}
#define CLI_COMMON_SHORT "c:k:"
#define CLI_COMMON_HELP                                                        \
	"  -c, --config FILE   region config (default $KETEN_CONFIG)\n"        \
	"  -k, --key FILE      this agency's key file (default $KETEN_KEY)\n"  \
	"      --timeout SEC   how long to wait for the broker (default 10)\n" \
	"      --json          machine-readable output\n"                      \
	"  -h, --help          this text\n"

/* JSON output: a quoted, escaped string. */
void json_str(FILE *f, const char *s);
/* An ISO 8601 UTC time from microseconds since the epoch. */
void cli_time(char out[32], int64_t us);

int cmd_keygen(int argc, char **argv);
int cmd_ping(int argc, char **argv);
int cmd_send(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_ack(int argc, char **argv);
int cmd_audit(int argc, char **argv);

#endif
