#ifndef MLPCONV_CJSONC_SHIM_H
#define MLPCONV_CJSONC_SHIM_H
// A module map's `header` is resolved relative to the module map's folder, so the real header is included
// from here, where pkg-config's -I/usr/include/json-c applies.
#include <json.h>

// Flag macros, typed as the functions that take them expect (Swift imports bare macros as Int32 at best).
static inline int mlp_JSON_TOKENER_STRICT(void) { return JSON_TOKENER_STRICT; }
static inline int mlp_JSON_TOKENER_VALIDATE_UTF8(void) { return JSON_TOKENER_VALIDATE_UTF8; }
static inline int mlp_JSON_C_TO_STRING_PLAIN(void) { return JSON_C_TO_STRING_PLAIN; }
#endif
