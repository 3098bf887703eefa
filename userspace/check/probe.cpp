#include "check/probe.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <linux/errqueue.h>
#include <linux/icmp.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "net/netns.hpp"
#include "util/system.hpp"

namespace podpath::check {
namespace {

constexpr std::uint16_t kIpHeader = sizeof(iphdr);  // without options: what probes send
constexpr std::uint16_t kIcmpHeader = sizeof(icmphdr);
constexpr std::uint16_t kUdpHeader = sizeof(udphdr);
/// The IP length of a TCP probe's SYN: headers with the options Linux sends (MSS, SACK,
/// timestamps, window scale).
constexpr std::uint16_t kSynSize = 60;
/// UDP probes carry at least this much payload ("podpath-check N").
constexpr std::uint16_t kUdpMinPayload = 16;
/// Room for the answers of many probes at once on the raw ICMP socket.
constexpr int kIcmpReceiveBuffer = 1 << 20;
/// ICMP identifiers come from [kIcmpIdFirst, kIcmpIdFirst + kIcmpIdSpan): clear of the low
/// ones ping and its kin start from.
constexpr std::uint16_t kIcmpIdFirst = 0x1000;
constexpr std::uint32_t kIcmpIdSpan = 0xefff;

/// A protocol header at `p` (any alignment), copied out.
template <typename Header> Header header_at(const std::uint8_t* p) {
  Header h;
  std::memcpy(&h, p, sizeof(h));
  return h;
}

/// The ICMP errors that quote the request they answer: what can come back for an echo.
bool quotes_request(std::uint8_t type) {
  return type == ICMP_DEST_UNREACH || type == ICMP_TIME_EXCEEDED || type == ICMP_PARAMETERPROB;
}

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

std::uint16_t checksum(const std::uint8_t* data, std::size_t len) {
  std::uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < len; i += 2) sum += be16(data + i);
  if (len % 2 != 0) sum += static_cast<std::uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

sockaddr_in to_sockaddr(const model::IpAddress& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  std::memcpy(&a.sin_addr, ip.bytes.data() + 12, 4);
  return a;
}

model::IpAddress from_sockaddr(const sockaddr_in& a) {
  return model::IpAddress::from_v4_be(a.sin_addr.s_addr);
}

void set_int(int fd, int level, int name, int value) { setsockopt(fd, level, name, &value, sizeof(value)); }

/// The oldest error of a socket's error queue (IP_RECVERR), if it came from an ICMP message.
std::optional<IcmpError> read_error_queue(int fd) {
  std::uint8_t data[256];
  std::uint8_t control[512];
  iovec iov{data, sizeof(data)};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return std::nullopt;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_IP || c->cmsg_type != IP_RECVERR) continue;
    sock_extended_err ee{};
    std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
    if (ee.ee_origin != SO_EE_ORIGIN_ICMP) return std::nullopt;
    IcmpError e;
    e.type = ee.ee_type;
    e.code = ee.ee_code;
    e.info = ee.ee_info;
    sockaddr_in offender{};
    std::memcpy(&offender, reinterpret_cast<const std::uint8_t*>(CMSG_DATA(c)) + sizeof(ee),
                sizeof(offender));
    if (offender.sin_family == AF_INET) e.from = from_sockaddr(offender);
    return e;
  }
  return std::nullopt;
}

/// One socket per probe (TCP, UDP) or one shared raw socket (ICMP).
struct Slot {
  Fd fd;
  bool done = false;
  std::uint64_t deadline_ns = 0;
};

class Prober {
 public:
  explicit Prober(const ProbeSpec& spec) : spec_(spec) {}

  Result<std::vector<ProbeOutcome>> run() {
    if (!spec_.dst.is_v4()) return make_error(ENOTSUP, "probes to IPv6 addresses are not supported yet");
    if (spec_.count < 1) return make_error(EINVAL, "at least one probe is needed");
    size_ = spec_.size != 0 ? spec_.size : kDefaultProbeSize;
    if (spec_.proto == Protocol::Icmp) {
      auto fd = net::socket_in_netns(spec_.netns, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
      if (!fd) return fd.error();
      raw_ = std::move(*fd);
      set_int(raw_.get(), SOL_IP, IP_MTU_DISCOVER, spec_.dont_fragment ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT);
      set_int(raw_.get(), SOL_SOCKET, SO_RCVBUF, kIcmpReceiveBuffer);
      // Only what can answer an echo: replies and the errors that quote a request.
      icmp_filter filter{~static_cast<std::uint32_t>((1U << ICMP_ECHOREPLY) | (1U << ICMP_DEST_UNREACH) |
                                                     (1U << ICMP_TIME_EXCEEDED) |
                                                     (1U << ICMP_PARAMETERPROB))};
      setsockopt(raw_.get(), SOL_RAW, ICMP_FILTER, &filter, sizeof(filter));
      std::uint16_t base = spec_.icmp_id_base;
      if (base == 0) base = static_cast<std::uint16_t>(std::random_device{}() % kIcmpIdSpan + kIcmpIdFirst);
      id_base_ = base;
    }
    outcomes_.resize(static_cast<std::size_t>(spec_.count));
    slots_.resize(static_cast<std::size_t>(spec_.count));
    const std::uint64_t t0 = monotonic_ns();
    const auto interval = static_cast<std::uint64_t>(spec_.interval.count()) * 1'000'000ULL;
    const auto timeout = static_cast<std::uint64_t>(spec_.timeout.count()) * 1'000'000ULL;
    int next = 0;
    int started = 0;
    Error first_error{"no probe could be sent", 0};
    for (;;) {
      std::uint64_t now = monotonic_ns();
      while (next < spec_.count && now >= t0 + static_cast<std::uint64_t>(next) * interval) {
        auto r = start(next, timeout);
        if (r) {
          ++started;
        } else if (started == 0 && first_error.code == 0) {
          first_error = r.error();
        }
        ++next;
        now = monotonic_ns();
      }
      expire(now);
      const bool all_done =
          std::all_of(slots_.begin(), slots_.begin() + next, [](const Slot& s) { return s.done; });
      if (next == spec_.count && all_done) break;
      std::uint64_t wake = next < spec_.count ? t0 + static_cast<std::uint64_t>(next) * interval : UINT64_MAX;
      for (int i = 0; i < next; ++i) {
        if (!slots_[static_cast<std::size_t>(i)].done)
          wake = std::min(wake, slots_[static_cast<std::size_t>(i)].deadline_ns);
      }
      const int wait_ms = wake > now ? static_cast<int>((wake - now + 999'999) / 1'000'000) : 0;
      wait(next, wait_ms);
    }
    if (started == 0) return first_error;
    return std::move(outcomes_);
  }

 private:
  ProbeOutcome& out(int i) { return outcomes_[static_cast<std::size_t>(i)]; }
  Slot& slot(int i) { return slots_[static_cast<std::size_t>(i)]; }

  void finish(int i, ProbeResult result, std::optional<IcmpError> icmp = std::nullopt, int error = 0) {
    if (slot(i).done) return;
    slot(i).done = true;
    out(i).result = result;
    out(i).icmp = std::move(icmp);
    out(i).error = error;
    if (result != ProbeResult::Timeout && result != ProbeResult::LocalError)
      out(i).answered_ns = monotonic_ns();
    if (spec_.proto != Protocol::Icmp) slot(i).fd.reset();
  }

  Result<void> start(int i, std::uint64_t timeout) {
    ProbeOutcome& o = out(i);
    o.seq = i + 1;
    o.key.src = spec_.src;
    o.key.dst = spec_.dst;
    slot(i).deadline_ns = monotonic_ns() + timeout;
    switch (spec_.proto) {
    case Protocol::Icmp:
      return start_icmp(i);
    case Protocol::Tcp:
      return start_tcp(i);
    case Protocol::Udp:
      break;
    }
    return start_udp(i);
  }

  Result<void> start_icmp(int i) {
    ProbeOutcome& o = out(i);
    const auto id = static_cast<std::uint16_t>(id_base_ + i);
    o.key.proto = IPPROTO_ICMP;
    o.key.sport = id;
    o.key.dport = model::icmp_type_code(ICMP_ECHO);
    o.size = std::max<std::uint16_t>(size_, kIpHeader + kIcmpHeader);
    std::vector<std::uint8_t> pkt(o.size - kIpHeader, 0);
    icmphdr echo{};
    echo.type = ICMP_ECHO;
    echo.un.echo.id = htons(id);
    echo.un.echo.sequence = htons(static_cast<std::uint16_t>(o.seq));
    std::memcpy(pkt.data(), &echo, sizeof(echo));
    for (std::size_t b = kIcmpHeader; b < pkt.size(); ++b) pkt[b] = static_cast<std::uint8_t>(b);
    echo.checksum = htons(checksum(pkt.data(), pkt.size()));
    std::memcpy(pkt.data(), &echo, sizeof(echo));
    const sockaddr_in to = to_sockaddr(spec_.dst, 0);
    o.sent_ns = monotonic_ns();
    if (sendto(raw_.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) <
        0) {
      const int e = errno;
      finish(i, ProbeResult::LocalError, std::nullopt, e);
      return make_error(e, "cannot send an ICMP echo to {}", spec_.dst.to_string());
    }
    return {};
  }

  Result<void> start_tcp(int i) {
    ProbeOutcome& o = out(i);
    o.key.proto = IPPROTO_TCP;
    o.key.dport = spec_.port;
    o.size = kSynSize;
    auto fd = net::socket_in_netns(spec_.netns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (!fd) {
      finish(i, ProbeResult::LocalError, std::nullopt, fd.error().code);
      return fd.error();
    }
    set_int(fd->get(), SOL_IP, IP_RECVERR, 1);
    const sockaddr_in to = to_sockaddr(spec_.dst, spec_.port);
    o.sent_ns = monotonic_ns();
    const int rc = connect(fd->get(), reinterpret_cast<const sockaddr*>(&to), sizeof(to));
    const int e = rc == 0 ? 0 : errno;
    sockaddr_in me{};
    socklen_t len = sizeof(me);
    if (getsockname(fd->get(), reinterpret_cast<sockaddr*>(&me), &len) == 0) o.key.sport = ntohs(me.sin_port);
    slot(i).fd = std::move(*fd);
    if (rc == 0) {
      finish(i, ProbeResult::Answered);
    } else if (e != EINPROGRESS) {
      finish(i, e == ECONNREFUSED ? ProbeResult::Refused : ProbeResult::LocalError, std::nullopt, e);
      if (e != ECONNREFUSED)
        return make_error(e, "cannot connect to {}:{}", spec_.dst.to_string(), spec_.port);
    }
    return {};
  }

  Result<void> start_udp(int i) {
    ProbeOutcome& o = out(i);
    o.key.proto = IPPROTO_UDP;
    o.key.dport = spec_.port;
    o.size = std::max<std::uint16_t>(size_, kIpHeader + kUdpHeader + kUdpMinPayload);
    auto fd = net::socket_in_netns(spec_.netns, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (!fd) {
      finish(i, ProbeResult::LocalError, std::nullopt, fd.error().code);
      return fd.error();
    }
    set_int(fd->get(), SOL_IP, IP_RECVERR, 1);
    set_int(fd->get(), SOL_IP, IP_MTU_DISCOVER, spec_.dont_fragment ? IP_PMTUDISC_DO : IP_PMTUDISC_DONT);
    const sockaddr_in to = to_sockaddr(spec_.dst, spec_.port);
    slot(i).fd = std::move(*fd);
    const int sfd = slot(i).fd.get();
    if (connect(sfd, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
      const int e = errno;
      finish(i, ProbeResult::LocalError, std::nullopt, e);
      return make_error(e, "cannot send UDP to {}:{}", spec_.dst.to_string(), spec_.port);
    }
    sockaddr_in me{};
    socklen_t len = sizeof(me);
    if (getsockname(sfd, reinterpret_cast<sockaddr*>(&me), &len) == 0) o.key.sport = ntohs(me.sin_port);
    std::string payload = fmt::format("podpath-check {}\n", o.seq);
    payload.resize(o.size - kIpHeader - kUdpHeader, '.');
    o.sent_ns = monotonic_ns();
    if (send(sfd, payload.data(), payload.size(), 0) < 0) {
      const int e = errno;
      finish(i, ProbeResult::LocalError, std::nullopt, e);
      return make_error(e, "cannot send UDP to {}:{}", spec_.dst.to_string(), spec_.port);
    }
    return {};
  }

  void expire(std::uint64_t now) {
    for (auto& s : slots_) {
      if (!s.done && s.deadline_ns != 0 && now >= s.deadline_ns) {
        const auto i = static_cast<int>(&s - slots_.data());
        finish(i, ProbeResult::Timeout);
      }
    }
  }

  void wait(int started, int wait_ms) {
    std::vector<pollfd> fds;
    std::vector<int> owner;
    if (spec_.proto == Protocol::Icmp) {
      fds.push_back({raw_.get(), POLLIN, 0});
      owner.push_back(-1);
    } else {
      for (int i = 0; i < started; ++i) {
        if (slot(i).done || !slot(i).fd) continue;
        fds.push_back(
            {slot(i).fd.get(), static_cast<short>(spec_.proto == Protocol::Tcp ? POLLOUT : POLLIN), 0});
        owner.push_back(i);
      }
    }
    if (fds.empty()) {
      if (wait_ms > 0) ::poll(nullptr, 0, std::min(wait_ms, 1000));
      return;
    }
    if (::poll(fds.data(), fds.size(), std::min(wait_ms, 1000)) <= 0) return;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      if (owner[k] < 0) {
        drain_icmp(started);
      } else if (spec_.proto == Protocol::Tcp) {
        on_tcp(owner[k]);
      } else {
        on_udp(owner[k], fds[k].revents);
      }
    }
  }

  void on_tcp(int i) {
    const int fd = slot(i).fd.get();
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) {
      finish(i, ProbeResult::Answered);
      return;
    }
    if (err == ECONNREFUSED) {
      // A RST, or an ICMP port unreachable (a REJECT): the error queue tells them apart.
      finish(i, ProbeResult::Refused, read_error_queue(fd), err);
      return;
    }
    if (auto icmp = read_error_queue(fd)) {
      finish(i, ProbeResult::IcmpError, icmp, err);
      return;
    }
    finish(i, ProbeResult::LocalError, std::nullopt, err);
  }

  void on_udp(int i, short revents) {
    const int fd = slot(i).fd.get();
    if ((revents & POLLERR) != 0) {
      int err = 0;
      socklen_t len = sizeof(err);
      const auto icmp = read_error_queue(fd);
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (icmp && icmp->port_unreachable()) {
        finish(i, ProbeResult::Refused, icmp, ECONNREFUSED);
      } else if (icmp) {
        finish(i, ProbeResult::IcmpError, icmp, err);
      } else {
        finish(i, ProbeResult::LocalError, std::nullopt, err);
      }
      return;
    }
    char buf[2048];
    if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0) finish(i, ProbeResult::Answered);
  }

  /// Echo replies and ICMP errors quoting one of our requests.
  void drain_icmp(int started) {
    std::uint8_t buf[2048];
    for (;;) {
      sockaddr_in from{};
      socklen_t flen = sizeof(from);
      const ssize_t n =
          recvfrom(raw_.get(), buf, sizeof(buf), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n <= 0) return;
      const auto len = static_cast<std::size_t>(n);
      if (len < kIpHeader) continue;
      const auto ip = header_at<iphdr>(buf);
      const std::size_t ihl = ip.ihl * 4U;
      if (len < ihl + kIcmpHeader) continue;
      const auto icmp = header_at<icmphdr>(buf + ihl);
      const auto sender = model::IpAddress::from_v4_be(ip.saddr);
      if (icmp.type == ICMP_ECHOREPLY) {
        if (sender != spec_.dst) continue;
        const int i = probe_of(ntohs(icmp.un.echo.id), ntohs(icmp.un.echo.sequence), started);
        if (i >= 0) finish(i, ProbeResult::Answered);
        continue;
      }
      if (!quotes_request(icmp.type)) continue;
      // The error quotes our request: its IP header, then the first 8 bytes of the echo.
      const std::size_t quoted = ihl + kIcmpHeader;
      if (len < quoted + kIpHeader) continue;
      const auto inner = header_at<iphdr>(buf + quoted);
      const std::size_t ihl2 = inner.ihl * 4U;
      if (len < quoted + ihl2 + kIcmpHeader || inner.protocol != IPPROTO_ICMP) continue;
      if (model::IpAddress::from_v4_be(inner.daddr) != spec_.dst) continue;
      const auto echo = header_at<icmphdr>(buf + quoted + ihl2);
      if (echo.type != ICMP_ECHO) continue;
      const int i = probe_of(ntohs(echo.un.echo.id), ntohs(echo.un.echo.sequence), started);
      if (i < 0) continue;
      IcmpError e;
      e.from = sender;
      e.type = icmp.type;
      e.code = icmp.code;
      if (e.frag_needed()) e.info = ntohs(icmp.un.frag.mtu);
      finish(i, ProbeResult::IcmpError, e);
    }
  }

  int probe_of(std::uint16_t id, std::uint16_t seq, int started) const {
    const int i = static_cast<std::uint16_t>(id - id_base_);
    if (i < 0 || i >= started || seq != i + 1) return -1;
    return i;
  }

  const ProbeSpec& spec_;
  std::uint16_t size_ = kDefaultProbeSize;
  std::uint16_t id_base_ = 0;
  Fd raw_;
  std::vector<ProbeOutcome> outcomes_;
  std::vector<Slot> slots_;
};

}  // namespace

const char* to_string(Protocol proto) {
  switch (proto) {
  case Protocol::Tcp:
    return "tcp";
  case Protocol::Udp:
    return "udp";
  case Protocol::Icmp:
    break;
  }
  return "icmp";
}

const char* to_string(ProbeResult result) {
  switch (result) {
  case ProbeResult::Answered:
    return "answered";
  case ProbeResult::Refused:
    return "refused";
  case ProbeResult::IcmpError:
    return "icmp_error";
  case ProbeResult::LocalError:
    return "local_error";
  case ProbeResult::Timeout:
    break;
  }
  return "timeout";
}

std::string IcmpError::describe() const {
  if (type == ICMP_DEST_UNREACH) {
    if (prohibited()) return "administratively prohibited";
    switch (code) {
    case ICMP_NET_UNREACH:
      return "network unreachable";
    case ICMP_HOST_UNREACH:
      return "host unreachable";
    case ICMP_PROT_UNREACH:
      return "protocol unreachable";
    case ICMP_PORT_UNREACH:
      return "port unreachable";
    case ICMP_FRAG_NEEDED:
      return fmt::format("fragmentation needed (next-hop MTU {})", info);
    default:
      return fmt::format("destination unreachable (code {})", code);
    }
  }
  if (type == ICMP_TIME_EXCEEDED)
    return code == ICMP_EXC_TTL ? "TTL exceeded in transit" : "fragment reassembly time exceeded";
  if (type == ICMP_PARAMETERPROB) return "parameter problem";
  return fmt::format("ICMP type {} code {}", type, code);
}

bool IcmpError::frag_needed() const { return type == ICMP_DEST_UNREACH && code == ICMP_FRAG_NEEDED; }
bool IcmpError::port_unreachable() const { return type == ICMP_DEST_UNREACH && code == ICMP_PORT_UNREACH; }
bool IcmpError::ttl_exceeded() const { return type == ICMP_TIME_EXCEEDED; }

bool IcmpError::no_route() const {
  return type == ICMP_DEST_UNREACH && (code == ICMP_NET_UNREACH || code == ICMP_HOST_UNREACH ||
                                       code == ICMP_NET_UNKNOWN || code == ICMP_HOST_UNKNOWN);
}

bool IcmpError::prohibited() const {
  return type == ICMP_DEST_UNREACH &&
         (code == ICMP_NET_ANO || code == ICMP_HOST_ANO || code == ICMP_PKT_FILTERED);
}

Result<std::vector<ProbeOutcome>> send_probes(const ProbeSpec& spec) { return Prober(spec).run(); }

Result<std::uint32_t> route_mtu(const std::string& netns, const model::IpAddress& dst) {
  if (!dst.is_v4()) return make_error(ENOTSUP, "IPv6 is not supported yet");
  auto fd = net::socket_in_netns(netns, AF_INET, SOCK_DGRAM, 0);
  if (!fd) return fd.error();
  const sockaddr_in to = to_sockaddr(dst, kDiscardPort);
  if (connect(fd->get(), reinterpret_cast<const sockaddr*>(&to), sizeof(to)) != 0) {
    return make_error(errno, "no route to {}", dst.to_string());
  }
  int mtu = 0;
  socklen_t len = sizeof(mtu);
  if (getsockopt(fd->get(), SOL_IP, IP_MTU, &mtu, &len) != 0)
    return make_error(errno, "cannot read the route MTU");
  return static_cast<std::uint32_t>(mtu);
}

Result<std::optional<MtuSend>> send_mtu_probes(const ProbeSpec& spec) {
  // The route MTU to probe with when the source's route has none: Ethernet's.
  constexpr std::uint32_t kFallbackMtu = 1500;
  constexpr std::uint32_t kMaxIpPacket = 65535;
  constexpr int kMtuProbes = 2;
  constexpr std::chrono::milliseconds kMtuProbeInterval{100};
  auto mtu = route_mtu(spec.netns, spec.dst);
  const std::uint32_t size = mtu ? *mtu : kFallbackMtu;
  const std::uint16_t small = spec.size != 0 ? spec.size : kDefaultProbeSize;
  if (size <= small || size > kMaxIpPacket) return std::optional<MtuSend>();
  ProbeSpec large = spec;
  large.proto = Protocol::Icmp;
  large.port = 0;
  large.interval = kMtuProbeInterval;
  large.icmp_id_base = 0;
  if (spec.proto != Protocol::Icmp) {
    // The large probe is an ICMP echo: first make sure small echoes pass at all.
    large.count = 1;
    large.size = 0;
    auto small_probe = send_probes(large);
    if (!small_probe) return small_probe.error();
    std::uint32_t answered = 0;
    for (const auto& p : *small_probe) answered += p.result == ProbeResult::Answered ? 1 : 0;
    if (answered == 0) {
      spdlog::info("ICMP echoes get no answer from {}: no large-packet (MTU) probe", spec.dst.to_string());
      return std::optional<MtuSend>();
    }
  }
  large.count = kMtuProbes;
  large.size = static_cast<std::uint16_t>(size);
  auto probes = send_probes(large);
  if (!probes) return probes.error();
  return std::optional<MtuSend>(MtuSend{large.size, std::move(*probes)});
}

}  // namespace podpath::check
