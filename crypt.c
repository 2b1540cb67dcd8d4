/*
 * crypt.c: placeholder, being written (SHA-512 crypt on BearSSL).
 */
#include <stddef.h>

#include "config.h"
#include "mta.h"

char *
sha512crypt(const char *key, const char *setting)
{
	(void)key;
	(void)setting;
	return NULL;
}
