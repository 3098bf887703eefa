// A small UDP load generator for scripts/bench, run inside lab pods:
//   udp_flood send DST_IP PORT SECONDS [PAYLOAD_BYTES]   prints packets sent
//   udp_flood recv PORT SECONDS                          prints packets received
// The sender uses sendmmsg in batches of 64 datagrams (64-byte frames by default: 22 bytes
// of payload + 42 bytes of headers) and stops after SECONDS.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int usage() {
  std::fprintf(stderr, "usage: udp_flood send DST_IP PORT SECONDS [PAYLOAD] | udp_flood recv PORT SECONDS\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string mode = argv[1];
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    std::perror("socket");
    return 1;
  }
  using Clock = std::chrono::steady_clock;
  if (mode == "recv") {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));
    int rcvbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      std::perror("bind");
      return 1;
    }
    timeval tv{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::printf("ready\n");
    std::fflush(stdout);
    const auto end = Clock::now() + std::chrono::seconds(std::atoi(argv[3]));
    std::vector<mmsghdr> msgs(64);
    std::vector<iovec> iov(64);
    std::vector<char> buf(64 * 2048);
    for (int i = 0; i < 64; ++i) {
      iov[i] = {buf.data() + i * 2048, 2048};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    unsigned long long n = 0;
    while (Clock::now() < end) {
      const int r = recvmmsg(fd, msgs.data(), 64, 0, nullptr);
      if (r > 0) n += static_cast<unsigned>(r);
    }
    std::printf("%llu\n", n);
    return 0;
  }
  if (mode == "send" && argc >= 5) {
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[3])));
    if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) return usage();
    if (connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) {
      std::perror("connect");
      return 1;
    }
    const std::size_t payload = argc > 5 ? static_cast<std::size_t>(std::atoi(argv[5])) : 22;
    std::vector<char> data(payload, 'x');
    std::vector<mmsghdr> msgs(64);
    iovec iov{data.data(), data.size()};
    for (auto& m : msgs) {
      m.msg_hdr = {};
      m.msg_hdr.msg_iov = &iov;
      m.msg_hdr.msg_iovlen = 1;
    }
    const auto end = Clock::now() + std::chrono::seconds(std::atoi(argv[4]));
    unsigned long long n = 0;
    while (Clock::now() < end) {
      const int r = sendmmsg(fd, msgs.data(), 64, 0);
      if (r > 0) n += static_cast<unsigned>(r);
    }
    std::printf("%llu\n", n);
    return 0;
  }
  return usage();
}
