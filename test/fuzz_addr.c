/*
 * fuzz_addr.c: libFuzzer target for addr.c, which it includes whole.
 *
 * Build: clang -std=c99 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -g \
 *     -fsanitize=fuzzer,address,undefined -o fuzz_addr test/fuzz_addr.c util.c
 * Run:   ./fuzz_addr -max_total_time=120 corpus/ test/fuzz_addr.seeds/
 *        (or make fuzz, which reads the seeds too)
 *
 * Besides crashes it checks the contract: every address handed out
 * passes addr_valid and is a fixed point of the parser (canonical), the
 * count matches the callbacks, and whatever addr_valid accepts,
 * addr_parseone accepts too.
 */
#include <stdint.h>
#include <stdlib.h>

#include "../addr.c"

/* link: util.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int calls;

/* The canonical form must survive a second trip through the parsers. */
static void
check(const char *addrspec, void *arg)
{
	char out[400];

	(void)arg;
	calls++;
	if (addr_valid(addrspec) == 0) {
		abort();
	}
	if (addr_parseone(addrspec, out, sizeof(out)) != 0 ||
	    strcmp(out, addrspec) != 0) {
		abort();
	}
	if (addr_parselist(addrspec, NULL, NULL) != 1) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[400], small[16];
	char *s;
	int n;

	if ((s = malloc(size + 1)) == NULL) {
		return 0;
	}
	memcpy(s, data, size);
	s[size] = '\0';

	calls = 0;
	n = addr_parselist(s, check, NULL);
	if ((n == -1 && calls != 0) || (n >= 0 && n != calls) ||
	    addr_parselist(s, NULL, NULL) != n) {
		abort();
	}

	if (addr_parseone(s, out, sizeof(out)) == 0 && out[0] != '\0') {
		check(out, NULL);
	}
	if (addr_parseone(s, small, sizeof(small)) == 0 &&
	    strlen(small) >= sizeof(small)) {
		abort();
	}

	if (addr_valid(s) != 0) {
		if (addr_parseone(s, out, sizeof(out)) != 0) {
			abort();
		}
		check(out, NULL);
	}
	free(s);
	return 0;
}
