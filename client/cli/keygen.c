/* keten keygen: new key material and the config fragment for it. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The config's words, indexed by enum keten_kind - 1. */
static const char *kinds[] = {"local_team", "veilig_thuis", "gi", "raad",
                              "auditor"};
#define N_KINDS (sizeof(kinds) / sizeof(kinds[0]))

static void
help(FILE *f)
{
	fputs("usage: keten keygen --id ID --name NAME --kind KIND --out FILE\n"
	      "       keten keygen --broker --out FILE\n"
	      "       keten keygen --witness NAME --out FILE\n"
	      "       keten keygen --show FILE\n"
	      "       keten keygen --rotate OLD --out NEW (--config FILE | "
	      "--region ID)\n"
	      "       (each with --json for one JSON object)\n\n"
	      "Creates an agency's keys (Ed25519 signing, X25519 for sealed\n"
	      "content, CURVE transport) in FILE with mode 0600, recording\n"
	      "its id, kind and display name, and prints the public halves\n"
	      "as a region-config fragment. FILE must not exist. Keep it\n"
	      "secret: it signs in the agency's name.\n\n"
	      "  --id ID       agency id: 1-63 of a-z, 0-9, '-' (lt-almere)\n"
	      "  --name NAME   display name (1-127 bytes of UTF-8 text)\n"
	      "  --kind KIND   local_team, veilig_thuis, gi, raad or auditor\n"
	      "  --broker      the broker's own keys (id 'broker')\n"
	      "  --witness NAME  a witness's keys (Ed25519 cosigning, CURVE\n"
	      "                transport) under a key name such as\n"
	      "                lt-almere.example/witness: no space, no '+'\n"
	      "  --out FILE    where to write the key file\n"
	      "  --show FILE   print the fragment for an existing key file\n"
	      "  --rotate OLD  new keys for OLD's agency (or the broker) in\n"
	      "                --out NEW, and the fragment with 'rotation:',\n"
	      "                the statement OLD's key signs for the new ones\n"
	      "                (put both in the region config; keep OLD until\n"
	      "                the broker has recorded the rotation); with\n"
	      "                --name and --kind for an OLD that records none\n"
	      "  -c, --config FILE  the region config, for the region id\n"
	      "                (default $KETEN_CONFIG)\n"
	      "  --region ID   the region id, instead of --config\n"
	      "  --json        print the public halves as one JSON object\n"
	      "                instead: id, name, kind, sign_key, box_key,\n"
	      "                transport_key, key_file (and rotation); a\n"
	      "                witness's: witness, cosign_key, transport_key\n"
	      "  -h, --help    this text\n",
	      f);
}

/* --json: one object instead of the config's lines. */
static int as_json;

/* The region config's lines for a witness (under witnesses:). */
static void
print_witness(const struct keten_public_keys *pub, const char *name)
{
	if (as_json) {
		fputs("{\"witness\":", stdout);
		json_str(stdout, name);
		printf(",\"cosign_key\":\"%s\",\"transport_key\":\"%s\"}\n",
		       pub->sign_key, pub->transport_key);
		return;
	}
	printf("  - name: %s\n    cosign_key: %s\n    transport_key: %s\n",
	       name, pub->sign_key, pub->transport_key);
}

/* print_fragment's --json form: kind and name are null when the file
 * records none; the broker has no box key. */
static void
print_json(const struct keten_key_info *k, const char *path,
           const char *rotation)
{
	int broker = strcmp(k->agency, "broker") == 0;

	fputs("{\"id\":", stdout);
	json_str(stdout, k->agency);
	if (!broker) {
		fputs(",\"name\":", stdout);
		if (k->kind == KETEN_KIND_NONE)
			fputs("null", stdout);
		else
			json_str(stdout, k->name);
		fputs(",\"kind\":", stdout);
		if (k->kind == KETEN_KIND_NONE || (size_t)k->kind > N_KINDS)
			fputs("null", stdout);
		else
			printf("\"%s\"", kinds[k->kind - 1]);
	}
	printf(",\"sign_key\":\"%s\"", k->pub.sign_key);
	if (!broker)
		printf(",\"box_key\":\"%s\"", k->pub.box_key);
	printf(",\"transport_key\":\"%s\",\"key_file\":", k->pub.transport_key);
	json_str(stdout, path);
	if (rotation != NULL)
		printf(",\"rotation\":\"%s\"", rotation);
	fputs("}\n", stdout);
}

/* s in YAML double quotes: a name is UTF-8 with no control character,
 * so only '"' and '\' need escaping. */
static void
print_quoted(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/*
 * The config fragment for a key file: the broker: block, or one
 * agencies: entry. A file that records no kind gets placeholders that
 * config_load refuses, never a guess. rotation may be NULL.
 */
static void
print_fragment(const struct keten_key_info *k, const char *path,
               const char *rotation)
{
	const char *in = "    ";

	if (as_json) {
		print_json(k, path, rotation);
		return;
	}
	if (strcmp(k->agency, "broker") == 0) {
		printf("broker:\n  key_file: %s\n  sign_key: %s\n"
		       "  transport_key: %s\n",
		       path, k->pub.sign_key, k->pub.transport_key);
		in = "  ";
	} else if (k->kind == KETEN_KIND_NONE) {
		printf("  # %s records no kind and no name: it was made\n"
		       "  # before key files did (format version %u). Replace "
		       "both\n"
		       "  # \"?\" below: the agency's display name, and its "
		       "kind\n"
		       "  # (local_team, veilig_thuis, gi, raad or auditor).\n"
		       "  # 'keten keygen --rotate' with --name and --kind "
		       "records\n"
		       "  # them in the new key file.\n"
		       "  - id: %s\n    name: \"?\"\n    kind: \"?\"\n",
		       path, k->version, k->agency);
	} else {
		printf("  - id: %s\n    name: ", k->agency);
		print_quoted(k->name);
		printf("\n    kind: %s\n",
		       (size_t)k->kind <= N_KINDS ? kinds[k->kind - 1] : "?");
	}
	if (strcmp(k->agency, "broker") != 0)
		printf("    sign_key: %s\n    box_key: %s\n    transport_key: "
		       "%s\n",
		       k->pub.sign_key, k->pub.box_key, k->pub.transport_key);
	if (rotation != NULL)
		printf("%srotation: %s\n", in, rotation);
}

/* --kind's word as a kind in *out (KETEN_KIND_NONE for no word); -1
 * after saying why if it is no kind. */
static int
kind_arg(enum keten_kind *out, const char *word)
{
	*out = KETEN_KIND_NONE;
	for (size_t i = 0; word != NULL && i < N_KINDS; i++)
		if (strcmp(word, kinds[i]) == 0)
			*out = (enum keten_kind)(i + 1);
	if (word == NULL || *out != KETEN_KIND_NONE)
		return 0;
	fprintf(stderr,
	        "keten keygen: unknown kind '%s': use local_team, "
	        "veilig_thuis, gi, raad or auditor\n",
	        word);
	return -1;
}

static int
show(const char *path)
{
	char witness_name[KETEN_WITNESS_NAME_MAX + 1];
	struct keten_public_keys pub;
	struct keten_key_info info;
	struct keten_error err;

	if (keten_witness_key_public(&pub, witness_name, path, &err) ==
	    KETEN_OK) {
		print_witness(&pub, witness_name);
		return EXIT_OK;
	}
	if (keten_key_info(&info, path, &err) != KETEN_OK)
		return cli_fail("keygen", &err);
	print_fragment(&info, path, NULL);
	return EXIT_OK;
}

static int
rotate(const char *old, const char *out, const char *config, const char *region,
       const char *kind, const char *name)
{
	struct keten_key_info info;
	struct keten_error err;
	enum keten_kind k;
	char *rotation = NULL;

	if (out == NULL || (config == NULL && region == NULL)) {
		fprintf(stderr,
		        "keten keygen: --rotate OLD takes --out NEW and "
		        "the region: --config FILE (or $KETEN_CONFIG) "
		        "or --region ID\n");
		return EXIT_USAGE;
	}
	if (kind_arg(&k, kind) != 0)
		return EXIT_USAGE;
	if (keten_keygen_rotate(&info, &rotation, out, old, region,
	                        region ? NULL : config, k, name,
	                        &err) != KETEN_OK)
		return cli_fail("keygen", &err);
	print_fragment(&info, out, rotation);
	free(rotation);
	return EXIT_OK;
}

int
cmd_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"id", required_argument, NULL, 'i'},
	    {"name", required_argument, NULL, 'n'},
	    {"kind", required_argument, NULL, 'K'},
	    {"broker", no_argument, NULL, 'b'},
	    {"witness", required_argument, NULL, 'w'},
	    {"out", required_argument, NULL, 'o'},
	    {"show", required_argument, NULL, 's'},
	    {"rotate", required_argument, NULL, 'r'},
	    {"config", required_argument, NULL, 'c'},
	    {"region", required_argument, NULL, 'R'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *id = NULL, *name = NULL, *kind = NULL, *out = NULL,
	           *shown = NULL, *witness = NULL, *old = NULL, *region = NULL;
	const char *config = NULL;
	struct keten_key_info info;
	struct keten_error err;
	int broker = 0, ch;

	while ((ch = getopt_long(argc, argv, "hc:", opts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			id = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'K':
			kind = optarg;
			break;
		case 'b':
			broker = 1;
			break;
		case 'w':
			witness = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			shown = optarg;
			break;
		case 'r':
			old = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'R':
			region = optarg;
			break;
		case 'j':
			as_json = 1;
			break;
		case 'h':
			help(stdout);
			return EXIT_OK;
		default:
			help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc ||
	    (shown || old) + (witness != NULL) + broker + (id != NULL) > 1 ||
	    (shown && (old || out)) || ((config || region) && !old) ||
	    ((name || kind) && !id && !old)) {
		fprintf(stderr, "keten keygen: give one of --id, --broker, "
		                "--witness, --show and --rotate, with only its "
		                "own options (keten keygen --help)\n");
		return EXIT_USAGE;
	}
	if (shown != NULL)
		return show(shown);
	if (old != NULL)
		return rotate(old, out,
		              config ? config : getenv("KETEN_CONFIG"), region,
		              kind, name);
	if (witness != NULL) {
		if (out == NULL) {
			fprintf(stderr, "keten keygen: --witness NAME takes "
			                "--out FILE\n");
			return EXIT_USAGE;
		}
		if (keten_keygen_witness(&info.pub, out, witness, &err) !=
		    KETEN_OK)
			return cli_fail("keygen", &err);
		print_witness(&info.pub, witness);
		return EXIT_OK;
	}
	if (out == NULL ||
	    (!broker && (id == NULL || name == NULL || kind == NULL))) {
		fprintf(stderr,
		        "keten keygen: --out is required, with --broker or "
		        "with --id, --name and --kind\n");
		return EXIT_USAGE;
	}
	memset(&info, 0, sizeof(info));
	if (kind_arg(&info.kind, broker ? NULL : kind) != 0)
		return EXIT_USAGE;
	snprintf(info.agency, sizeof(info.agency), "%s",
	         broker ? "broker" : id);
	snprintf(info.name, sizeof(info.name), "%s", broker ? "" : name);
	if (keten_keygen_agency(&info.pub, out, broker ? "broker" : id,
	                        info.kind, broker ? NULL : name,
	                        &err) != KETEN_OK)
		return cli_fail("keygen", &err);
	print_fragment(&info, out, NULL);
	return EXIT_OK;
}
