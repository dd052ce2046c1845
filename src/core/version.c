/* core/version.c - ag_version(): the version of the compiled library. */
#include "autograd.h"

const char *ag_version(void) {
    return AG_VERSION_STRING;
}
