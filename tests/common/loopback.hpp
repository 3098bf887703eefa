#pragma once
// A UDP sender/receiver pair over loopback in the caller's network namespace (brought up
// first: a fresh namespace has lo down), for tests and benchmarks that send real packets
// from inside a cgroup.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace podpath::testing {

struct UdpLoopback {
  int rx = -1;        ///< bound to 127.0.0.1, an ephemeral port
  int tx = -1;        ///< connected to rx
  sockaddr_in dst{};  ///< rx's address
};

/// @brief Sets lo up, binds rx and connects tx to it. Sockets stay open (the caller is a
/// short-lived child process in these tests); false when a socket call fails.
inline bool open_udp_loopback(UdpLoopback& p) {
  const int ctl = socket(AF_INET, SOCK_DGRAM, 0);
  if (ctl < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  ioctl(ctl, SIOCGIFFLAGS, &ifr);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  ioctl(ctl, SIOCSIFFLAGS, &ifr);
  close(ctl);
  p.dst.sin_family = AF_INET;
  p.dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  p.rx = socket(AF_INET, SOCK_DGRAM, 0);
  if (p.rx < 0 || bind(p.rx, reinterpret_cast<sockaddr*>(&p.dst), sizeof(p.dst)) != 0) return false;
  socklen_t len = sizeof(p.dst);
  if (getsockname(p.rx, reinterpret_cast<sockaddr*>(&p.dst), &len) != 0) return false;
  p.tx = socket(AF_INET, SOCK_DGRAM, 0);
  return p.tx >= 0 && connect(p.tx, reinterpret_cast<sockaddr*>(&p.dst), sizeof(p.dst)) == 0;
}

}  // namespace podpath::testing
