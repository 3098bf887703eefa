// HttpTransport over libcurl. One easy handle per transport (connections are reused
// between requests); a multi handle around it so that cancel() can wake a transfer that
// is waiting for a quiet watch (curl_multi_wakeup), instead of waiting up to a second for
// a progress callback.
#include <curl/curl.h>

#include <cctype>
#include <cstring>
#include <mutex>

#include "kube/http.hpp"

namespace podpath::kube {
namespace {

/// A non-2xx body is a v1 Status of a few hundred bytes; more is not worth keeping.
constexpr std::size_t kMaxErrorBody = std::size_t{1} << 20;
constexpr long kConnectTimeoutMs = 10'000;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

TransportFailure classify(CURLcode code, long status) {
  switch (code) {
  case CURLE_OK:
    return TransportFailure::None;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
    return TransportFailure::Unreachable;
  case CURLE_OPERATION_TIMEDOUT:
    return status == 0 ? TransportFailure::Unreachable : TransportFailure::Timeout;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_USE_SSL_FAILED:
    return TransportFailure::Tls;
  default:
    return TransportFailure::Other;
  }
}

class CurlTransport final : public HttpTransport {
 public:
  CurlTransport(ClusterConfig config, std::shared_ptr<TokenSource> tokens)
      : config_(std::move(config)), tokens_(std::move(tokens)) {
    global_init();
    easy_ = curl_easy_init();
    multi_ = curl_multi_init();
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;
  ~CurlTransport() override {
    if (easy_ != nullptr) curl_easy_cleanup(easy_);
    if (multi_ != nullptr) curl_multi_cleanup(multi_);
  }

  HttpResponse get(const HttpRequest& request, const BodySink& sink) override {
    HttpResponse response;
    if (easy_ == nullptr || multi_ == nullptr) {
      response.failure = TransportFailure::Other;
      response.failure_message = "libcurl could not be initialised";
      return response;
    }
    std::string token;
    if (tokens_) {
      auto t = tokens_->token();
      if (!t) {
        response.failure = TransportFailure::Other;
        response.failure_message = t.error().to_string();
        return response;
      }
      token = std::move(*t);
    }
    Transfer transfer{this, &response, &sink, false, -1};
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, ("Accept: " + request.accept).c_str());
    if (request.post_json) headers = curl_slist_append(headers, "Content-Type: application/json");
    if (!token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + token).c_str());
    char error_buffer[CURL_ERROR_SIZE] = {};
    configure(request, headers, transfer, error_buffer);

    const CURLcode code = perform();
    curl_slist_free_all(headers);
    curl_easy_getinfo(easy_, CURLINFO_RESPONSE_CODE, &response.status);
    curl_header* retry = nullptr;
    if (curl_easy_header(easy_, "Retry-After", 0, CURLH_HEADER, -1, &retry) == CURLHE_OK && retry != nullptr)
      response.retry_after = retry->value;
    if (cancelled_.exchange(false)) {
      response.failure = TransportFailure::Cancelled;
      response.failure_message = "cancelled";
      response.status = 0;
      return response;
    }
    // The sink asked to stop: a deliberate end, not a failure.
    if (code == CURLE_WRITE_ERROR && transfer.sink_stopped) return response;
    if (code != CURLE_OK) {
      response.failure = classify(code, response.status);
      response.failure_message = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(code);
      response.status = 0;
      return response;
    }
    if (response.status == 401 && tokens_) tokens_->invalidate();
    return response;
  }

  void cancel() override {
    cancelled_ = true;
    curl_multi_wakeup(multi_);
  }

 private:
  struct Transfer {
    CurlTransport* self;
    HttpResponse* response;
    const BodySink* sink;
    bool sink_stopped;
    long status;  ///< -1 until the first body byte
  };

  static std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const std::size_t n = size * count;
    if (t->status < 0) curl_easy_getinfo(t->self->easy_, CURLINFO_RESPONSE_CODE, &t->status);
    const bool success = t->status >= 200 && t->status < 300;
    if (success && t->sink != nullptr && *t->sink) {
      if (!(*t->sink)(std::string_view(data, n))) {
        t->sink_stopped = true;
        return 0;  // CURLE_WRITE_ERROR ends the transfer
      }
      return n;
    }
    if (t->response->body.size() < kMaxErrorBody || success) t->response->body.append(data, n);
    return n;
  }

  void configure(const HttpRequest& request, curl_slist* headers, Transfer& transfer, char* error_buffer) {
    curl_easy_reset(easy_);
    const std::string url = config_.server + request.target;
    curl_easy_setopt(easy_, CURLOPT_URL, url.c_str());  // libcurl copies strings
    if (!config_.unix_socket.empty())
      curl_easy_setopt(easy_, CURLOPT_UNIX_SOCKET_PATH, config_.unix_socket.c_str());
    if (request.post_json) {
      curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.post_json->size()));
      curl_easy_setopt(easy_, CURLOPT_COPYPOSTFIELDS, request.post_json->c_str());
    } else {
      curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy_, CURLOPT_USERAGENT, "podpath");
    curl_easy_setopt(easy_, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &CurlTransport::on_write);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    // A watch can be quiet for minutes; keep-alive probes find a dead peer.
    curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy_, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(easy_, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYPEER, config_.insecure_skip_tls_verify ? 0L : 1L);
    curl_easy_setopt(easy_, CURLOPT_SSL_VERIFYHOST, config_.insecure_skip_tls_verify ? 0L : 2L);
    if (!config_.ca_pem.empty()) {
      curl_blob blob{config_.ca_pem.data(), config_.ca_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(easy_, CURLOPT_CAINFO_BLOB, &blob);
    } else if (!config_.ca_file.empty()) {
      curl_easy_setopt(easy_, CURLOPT_CAINFO, config_.ca_file.c_str());
    }
    if (!config_.client_cert_pem.empty()) {
      curl_blob blob{config_.client_cert_pem.data(), config_.client_cert_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(easy_, CURLOPT_SSLCERT_BLOB, &blob);
    } else if (!config_.client_cert_file.empty()) {
      curl_easy_setopt(easy_, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
    }
    curl_easy_setopt(easy_, CURLOPT_SSLCERTTYPE, "PEM");
    if (!config_.client_key_pem.empty()) {
      curl_blob blob{config_.client_key_pem.data(), config_.client_key_pem.size(), CURL_BLOB_COPY};
      curl_easy_setopt(easy_, CURLOPT_SSLKEY_BLOB, &blob);
    } else if (!config_.client_key_file.empty()) {
      curl_easy_setopt(easy_, CURLOPT_SSLKEY, config_.client_key_file.c_str());
    }
  }

  CURLcode perform() {
    curl_multi_add_handle(multi_, easy_);
    int running = 1;
    while (running > 0 && !cancelled_) {
      if (curl_multi_perform(multi_, &running) != CURLM_OK) break;
      if (running > 0) curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
    }
    CURLcode code = cancelled_ ? CURLE_ABORTED_BY_CALLBACK : CURLE_OK;
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_ && !cancelled_) code = msg->data.result;
    }
    curl_multi_remove_handle(multi_, easy_);
    return code;
  }

  ClusterConfig config_;
  std::shared_ptr<TokenSource> tokens_;
  CURL* easy_ = nullptr;
  CURLM* multi_ = nullptr;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<HttpTransport> make_curl_transport(const ClusterConfig& config,
                                                   std::shared_ptr<TokenSource> tokens) {
  return std::make_unique<CurlTransport>(config, std::move(tokens));
}

TransportFactory curl_transport_factory(const ClusterConfig& config) {
  auto tokens = std::make_shared<TokenSource>(config.token, config.token_file);
  return [config, tokens] { return make_curl_transport(config, tokens); };
}

std::string url_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : value) {
    const auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) != 0 || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  return out;
}

}  // namespace podpath::kube
