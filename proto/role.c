/* role.c - the names of the protocol's roles (see role.h). */
#include "role.h"

#include <string.h>

const char *const role_names[4] = { "gate", "kiosk", "operator", NULL };

const char *
role_name(enum role r)
{
	for (int i = 0; role_names[i] != NULL; i++)
		if (r == (enum role)(1 << i))
			return role_names[i];
	return "none";
}

int
role_parse(const char *s, enum role *r)
{
	for (int i = 0; role_names[i] != NULL; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*r = (enum role)(1 << i);
			return 0;
		}
	}
	return -1;
}
