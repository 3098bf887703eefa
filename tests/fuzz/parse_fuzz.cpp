// libFuzzer harness for the BPF packet parser (bpf/parse.bpf.h), compiled for userspace
// so that ASan/UBSan check every read against the exact input length, and invariants of
// the result are asserted.
#include <linux/types.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#ifndef __always_inline
#define __always_inline inline
#endif
#include "parse.bpf.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pp_parsed out;
  std::memset(&out, 0, sizeof(out));
  const int rc = pp_parse(data, data + size, &out);
  if (rc < 0 || rc >= PP_CNT_MAX) std::abort();
  if (rc != 0) return 0;
  // A key was produced: it must be self-consistent.
  if (out.l4_off > size) std::abort();
  if ((out.key.flags & PP_KEY_F_FRAGMENT) && (out.key.sport != 0 || out.key.dport != 0)) std::abort();
  if (!(out.key.flags & PP_KEY_F_IPV6)) {
    static const std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.key.saddr, mapped, 12) != 0 || std::memcmp(out.key.daddr, mapped, 12) != 0)
      std::abort();
  }
  if (out.key.proto != PP_IPPROTO_TCP && out.tcp_flags != 0) std::abort();
  if (out.key.pad != 0) std::abort();
  // The GSO header length reads the TCP data offset: ASan checks that read.
  (void)pp_gso_header_bytes(data, data + size, &out);
  return 0;
}
