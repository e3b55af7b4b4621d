/*
 * streq.h - whether two NUL-terminated strings are equal, the first bytes
 * compared before strcmp is called: the member names and method names
 * compared on every request mostly differ there, and a call to strcmp
 * for each was a few percent of a request.
 */
#ifndef PARKD_STREQ_H
#define PARKD_STREQ_H

#include <string.h>

static inline int
streq(const char *a, const char *b)
{
	return a[0] == b[0] && strcmp(a, b) == 0;
}

#endif
