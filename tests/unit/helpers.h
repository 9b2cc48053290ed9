/* helpers.h - shared includes for cmocka unit tests. */
#ifndef AGORA_TEST_HELPERS_H
#define AGORA_TEST_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#endif
