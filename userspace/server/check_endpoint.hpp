#pragma once
/// @file
/// @brief POST /v1/check, the agent's only endpoint that acts: probes sent from inside one of
/// this node's pods (the prober of `podpath check`, check/probe.hpp), and what this node saw
/// of them: its hops of the probed conversations and its kernel drops (docs/agent.md).
///
/// The probes need privileges the HTTP threads dropped (entering the pod's network
/// namespace: CAP_SYS_ADMIN; ICMP's raw socket: CAP_NET_RAW), so they are sent by a prober
/// thread of their own, started before the main thread drops its capabilities, which keeps
/// only those two. After an answer it sends the large-packet (MTU) probe lab-mode check
/// sends (check::send_mtu_probes). The HTTP thread validates the request, takes a token from the rate
/// limiter, hands the probes over, then waits for the first snapshot published after them
/// (the refresh that counted them and placed their drops) and answers from it.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "check/probe.hpp"
#include "model/address.hpp"
#include "server/snapshot_hub.hpp"
#include "util/result.hpp"

namespace podpath::server {

/// @brief The path of the endpoint.
inline constexpr std::string_view kCheckPath = "/v1/check";

/// @brief The body of POST /v1/check, validated: nothing else is accepted.
struct CheckBody {
  std::string source;            ///< "namespace/name" or "name": a pod on this node
  model::IpAddress destination;  ///< an address, never a name
  check::Protocol protocol = check::Protocol::Icmp;
  std::uint16_t port = 0;  ///< TCP/UDP: 1-65535; ICMP: 0
};

/// @brief Parses and validates the JSON body: an object with exactly "source" (string),
/// "destination" (an IP address), "protocol" ("icmp", "tcp" or "udp") and, for TCP and UDP,
/// "port" (1-65535). The error message starts with the field at fault ("port: ...").
Result<CheckBody> parse_check_body(std::string_view body);

/// @brief A token bucket: `burst` checks at once, then one per `refill`.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(int burst, std::chrono::milliseconds refill, Clock::time_point now);

  /// @brief Takes a token at `now`; when none is left, false and `retry_after` the whole
  /// seconds (at least 1) until the next one.
  bool take(Clock::time_point now, std::chrono::seconds& retry_after);

 private:
  double tokens_;
  int burst_;
  std::chrono::milliseconds refill_;
  Clock::time_point last_;
};

/// @brief Limits on checks (docs/agent.md).
struct CheckLimits {
  int burst = 3;                                  ///< checks at once before the limiter says 429
  std::chrono::milliseconds refill{10'000};       ///< one more check per this
  int count = 3;                                  ///< probes per check
  std::chrono::milliseconds interval{200};        ///< between probe starts
  std::chrono::milliseconds timeout{2000};        ///< per probe
  std::chrono::milliseconds settle{300};          ///< after the last probe: late answers, drop records
  std::chrono::milliseconds snapshot_wait{5000};  ///< for the refresh that counted the probes
};

/// @brief What a request gets.
struct CheckAnswer {
  int status = 200;
  std::string body;       ///< JSON
  int retry_after_s = 0;  ///< > 0: a Retry-After header (429)
};

class CheckService {
 public:
  CheckService(SnapshotHub& hub, CheckLimits limits);
  ~CheckService();
  CheckService(const CheckService&) = delete;
  CheckService& operator=(const CheckService&) = delete;

  /// @brief Starts the prober thread, which keeps CAP_SYS_ADMIN and CAP_NET_RAW if the
  /// caller has them and drops the rest: call it before the main thread drops its own.
  void start();
  /// @brief Ends the prober thread (a check in progress finishes first).
  void stop();

  /// @brief Serves one POST /v1/check body (HTTP threads; at most one check at a time).
  CheckAnswer handle(std::string_view body);

 private:
  using Probes = Result<std::vector<check::ProbeOutcome>>;
  /// @brief What the prober did: the probes, and the large-packet probe `podpath check` sends
  /// after an answer (nullopt when none was sent).
  struct ProberResult {
    Probes probes;
    std::optional<check::MtuSend> mtu;
  };
  void run();
  std::optional<ProberResult> probe(const check::ProbeSpec& spec);

  SnapshotHub& hub_;
  CheckLimits limits_;
  std::mutex limiter_mutex_;
  TokenBucket bucket_;
  bool busy_ = false;  // under limiter_mutex_: a check is running

  // The prober thread's mailbox: one job at a time.
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<check::ProbeSpec> job_;
  std::optional<ProberResult> result_;
  bool stopping_ = false;
  bool started_ = false;
  bool may_enter_netns_ = false;  // the prober thread holds CAP_SYS_ADMIN
  std::thread thread_;
};

}  // namespace podpath::server
