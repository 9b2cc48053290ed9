/*
 * banned.h - functions Agora must not use (after git's banned.h).
 *
 * Included by every translation unit through the compiler command line
 * (-include), so a use anywhere fails the build. Each has a bounded or
 * error-reporting replacement: snprintf, memcpy with explicit lengths,
 * strtol/strtoul with end-pointer checks, fgets.
 */
#ifndef AGORA_BANNED_H
#define AGORA_BANNED_H

/* Pull in the system declarations first so the macros only hit our code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef atof
#define atof(x) BANNED(atof)

#endif
