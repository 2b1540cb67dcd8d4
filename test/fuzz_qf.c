/*
 * fuzz_qf.c: libFuzzer target for the qf reader. Whatever the bytes,
 * spool_parse must refuse or accept without a crash or a leak, and what
 * it accepts must format and parse again.
 */
#include <stdint.h>
#include <stdlib.h>

/* link: util.c addr.c */
#define main unit_main
#include "unit_spool.c"
#undef main

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg m, back;
	char *buf, *text;
	size_t len;

	buf = malloc(size + 1);
	memcpy(buf, data, size);
	buf[size] = '\0';
	msg_init(&m);
	if (spool_parse(buf, size, &m) == 0) {
		text = spool_format(&m, &len);
		msg_init(&back);
		if (spool_parse(text, len, &back) != 0) {
			abort();
		}
		msg_free(&back);
		free(text);
	}
	msg_free(&m);
	free(buf);
	return 0;
}
