#include "bpf/test_run.hpp"

#include <bpf/bpf.h>

namespace podpath::bpf {

Result<TestRunResult> test_run(int prog_fd, std::span<const std::uint8_t> frame, std::uint32_t repeat,
                               const SkbFields& skb) {
  TestRunResult out;
  // Room for the kernel's possible padding of short frames.
  out.data_out.resize(frame.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data_out.data(),
              .data_size_in = static_cast<__u32>(frame.size()),
              .data_size_out = static_cast<__u32>(out.data_out.size()), .repeat = static_cast<int>(repeat));
  __sk_buff ctx{};
  if (skb.gso_segs != 0 || skb.gso_size != 0) {
    ctx.gso_segs = skb.gso_segs;
    ctx.gso_size = skb.gso_size;
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
  }
  const int err = bpf_prog_test_run_opts(prog_fd, &opts);
  if (err != 0) return make_error(err, "BPF_PROG_TEST_RUN on a {}-byte frame failed", frame.size());
  out.retval = static_cast<int>(opts.retval);
  out.duration_ns = opts.duration;
  out.data_out.resize(opts.data_size_out);
  return out;
}

}  // namespace podpath::bpf
