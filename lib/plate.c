/* plate.c - licence plate validation and case folding. */
#include "plate.h"

int
plate_normalize(const char *s, size_t len, char out[PLATE_BUFSZ])
{
	size_t n = 0;

	out[0] = '\0';
	while (len > 0 && s[0] == ' ') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	if (len == 0 || len > PLATE_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == ' ')) {
			out[0] = '\0';
			return -1;
		}
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}
