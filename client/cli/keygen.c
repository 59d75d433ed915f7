/* keten keygen: new key material and the config fragment for it. */
#include <getopt.h>
#include <string.h>

#include "cli.h"

static const char *kinds[] = {"local_team", "veilig_thuis", "gi", "raad",
                              "auditor"};

static void
help(FILE *f)
{
	fputs("usage: keten keygen --id ID --out FILE [--name NAME] [--kind "
	      "KIND]\n"
	      "       keten keygen --broker --out FILE\n"
	      "       keten keygen --witness NAME --out FILE\n"
	      "       keten keygen --show FILE\n\n"
	      "Creates an agency's keys (Ed25519 signing, X25519 for sealed\n"
	      "content, CURVE transport) in FILE with mode 0600, and prints\n"
	      "the public halves as a region-config fragment. FILE must not\n"
	      "exist. Keep it secret: it signs in the agency's name.\n\n"
	      "  --id ID       agency id: 1-63 of a-z, 0-9, '-' (lt-almere)\n"
	      "  --name NAME   display name for the fragment\n"
	      "  --kind KIND   local_team, veilig_thuis, gi, raad or auditor\n"
	      "  --broker      the broker's own keys (id 'broker')\n"
	      "  --witness NAME  a witness's keys (Ed25519 cosigning, CURVE\n"
	      "                transport) under a key name such as\n"
	      "                lt-almere.example/witness: no space, no '+'\n"
	      "  --out FILE    where to write the key file\n"
	      "  --show FILE   print the fragment for an existing key file\n"
	      "  -h, --help    this text\n",
	      f);
}

/* The region config's lines for a witness (under witnesses:). */
static void
print_witness(const struct keten_public_keys *pub, const char *name)
{
	printf("  - name: %s\n    cosign_key: %s\n    transport_key: %s\n",
	       name, pub->sign_key, pub->transport_key);
}

static void
print_fragment(const struct keten_public_keys *pub, const char *id,
               const char *name, const char *kind, int broker, const char *path)
{
	if (broker) {
		printf("broker:\n  key_file: %s\n  sign_key: %s\n"
		       "  transport_key: %s\n",
		       path, pub->sign_key, pub->transport_key);
		return;
	}
	printf("  - id: %s\n    name: \"%s\"\n    kind: %s\n    sign_key: %s\n"
	       "    box_key: %s\n    transport_key: %s\n",
	       id, name ? name : id, kind ? kind : "local_team", pub->sign_key,
	       pub->box_key, pub->transport_key);
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
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *id = NULL, *name = NULL, *kind = NULL, *out = NULL,
	           *show = NULL, *witness = NULL;
	char witness_name[KETEN_WITNESS_NAME_MAX + 1];
	struct keten_public_keys pub;
	struct keten_error err;
	char shown_id[KETEN_ID_MAX + 1];
	int broker = 0, ch, ok = 0;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
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
			show = optarg;
			break;
		case 'h':
			help(stdout);
			return EXIT_OK;
		default:
			help(stderr);
			return EXIT_USAGE;
		}
	}
	if (show != NULL && keten_witness_key_public(&pub, witness_name, show,
	                                             &err) == KETEN_OK) {
		print_witness(&pub, witness_name);
		return EXIT_OK;
	}
	if (show != NULL) {
		if (keten_key_public(&pub, shown_id, show, &err) != KETEN_OK)
			return cli_fail("keygen", &err);
		print_fragment(&pub, shown_id, name, kind,
		               strcmp(shown_id, "broker") == 0, show);
		return EXIT_OK;
	}
	if (witness != NULL) {
		if (out == NULL || optind != argc || broker || id != NULL) {
			fprintf(stderr, "keten keygen: --witness NAME takes "
			                "--out FILE and nothing else\n");
			return EXIT_USAGE;
		}
		if (keten_keygen_witness(&pub, out, witness, &err) != KETEN_OK)
			return cli_fail("keygen", &err);
		print_witness(&pub, witness);
		return EXIT_OK;
	}
	if (broker)
		id = "broker";
	if (id == NULL || out == NULL || optind != argc) {
		fprintf(stderr,
		        "keten keygen: --id (or --broker) and --out are "
		        "required\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; kind && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		ok |= strcmp(kind, kinds[i]) == 0;
	if (kind && !ok) {
		fprintf(stderr,
		        "keten keygen: unknown kind '%s': use "
		        "local_team, veilig_thuis, gi, raad or auditor\n",
		        kind);
		return EXIT_USAGE;
	}
	if (keten_keygen(&pub, out, id, &err) != KETEN_OK)
		return cli_fail("keygen", &err);
	print_fragment(&pub, id, name, kind, broker, out);
	return EXIT_OK;
}
