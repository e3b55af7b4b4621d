/*
 * role.h - who a client is to the protocol: the roles a token grants
 * (protocol.md: gate, kiosk, operator) and the method table checks.
 */
#ifndef PARKD_ROLE_H
#define PARKD_ROLE_H

/* Bits, so that a method can name the roles that may call it. */
enum role { ROLE_NONE = 0, ROLE_GATE = 1, ROLE_KIOSK = 2, ROLE_OPERATOR = 4 };

/* "gate", "kiosk", "operator", NULL: name i is the role 1 << i. */
extern const char *const role_names[4];

/* The name of r ("none" for ROLE_NONE or anything else). */
const char *role_name(enum role r);
/* The role called s (exactly); 0, or -1 when there is none. */
int role_parse(const char *s, enum role *r);

#endif
