#pragma once
/// @file
/// @brief The server layer's third-party headers: cpp-httplib (built with OpenSSL, as
/// Debian's pkg-config flags say) and OpenSSL. This directory is on the server layer's
/// include path alone (PRIVATE), so the layer's internal headers, which include this one with
/// angle brackets (never found next to the including file), fail to compile anywhere else: the build, not a
/// convention, keeps cpp-httplib and OpenSSL inside the layer (tests/layering, lint.layers).

#include <httplib.h>
#include <openssl/ssl.h>
