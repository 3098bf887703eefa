#include "output/live_screen.hpp"

#include <fmt/format.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <tuple>

#include "output/pods_view.hpp"
#include "output/stats_view.hpp"
#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::output::live {
namespace {

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/// A row moves above another only when it is busier by this factor.
constexpr double kClearlyBusier = 1.25;

/// Appends text, merged into the last span when the attributes are the same.
/// Every text of the screen passes here, through printable(): names of pods, interfaces
/// and namespaces are chosen by others and must not reach the terminal as escape sequences.
void append(Line& line, std::string_view text, Attr attr = {}) {
  if (text.empty()) return;
  const std::string shown = printable(text);
  if (!line.spans.empty() && line.spans.back().attr == attr) {
    line.spans.back().text += shown;
  } else {
    line.spans.push_back({shown, attr});
  }
}

void append(Line& line, const Line& more) {
  for (const auto& s : more.spans) append(line, s.text, s.attr);
}

void pad(Line& line, std::size_t width, Attr attr = {}) {
  const std::size_t w = line.width();
  if (w < width) append(line, std::string(width - w, ' '), attr);
}

Line text_line(std::string_view text, Attr attr = {}) {
  Line l;
  append(l, text, attr);
  return l;
}

Attr colored(Color c, bool color, bool bold = false) {
  Attr a;
  if (color) a.color = c;
  a.bold = bold;
  return a;
}

Attr dim() {
  Attr a;
  a.dim = true;
  return a;
}

Attr bold() {
  Attr a;
  a.bold = true;
  return a;
}

// ----------------------------------------------------------------------------- one row

/// How much a conversation line says; the richest that fits the width is used.
enum class Names { Full, Short, ShortOctet, ShortOnly };
struct Form {
  Names names;
  bool ports;   ///< TCP/UDP/SCTP ports after the protocol
  bool spaced;  ///< blanks around the path's arrows
};
constexpr std::array<Form, 6> kForms{{{Names::Full, true, true},
                                      {Names::Short, true, true},
                                      {Names::Short, false, true},
                                      {Names::Short, false, false},
                                      {Names::ShortOctet, false, false},
                                      {Names::ShortOnly, false, false}}};

/// The text after the last '.' (IPv4) or ':' (IPv6), the part that differs between pods
/// of one node.
std::string last_octet(const model::IpAddress& ip) {
  const std::string text = ip.to_string();
  const auto cut = text.find_last_of(ip.is_v4() ? '.' : ':');
  return cut == std::string::npos ? text : text.substr(cut);
}

Line endpoint_line(const flows::Endpoint& e, Names names, bool color) {
  const std::string ip = e.ip.to_string();
  const Line ip_line = parse_styled(highlight_last_octet(e.ip, color));
  if (e.name == ip) return ip_line;  // an address nothing names
  const std::string name =
      names == Names::Full ? e.name : (e.pod != nullptr ? short_pod_name(e.pod->name) : e.name);
  Line l = text_line(name);
  switch (names) {
  case Names::Full:
  case Names::Short:
    append(l, " ");
    append(l, ip_line);
    break;
  case Names::ShortOctet:
    append(l, " ");
    append(l, last_octet(e.ip), colored(Color::Yellow, color, color));
    break;
  case Names::ShortOnly:
    break;
  }
  return l;
}

bool has_ports(const model::FlowKey& key) {
  return !key.fragment && (key.proto == IPPROTO_TCP || key.proto == IPPROTO_UDP || key.proto == IPPROTO_SCTP);
}

std::string proto_text(const model::FlowKey& key, bool ports) {
  std::string t = model::protocol_name(key.proto);
  if (ports && has_ports(key)) t += " " + format_ports(key);
  return t;
}

/// How a hop is named in a compact path: its role for pod veths and the gateway (their
/// names say nothing), else its interface.
std::string hop_label(const flows::Hop& h) {
  switch (h.role) {
  case model::InterfaceRole::PodVeth:
    return "veth";
  case model::InterfaceRole::Gateway:
    return "gw";
  case model::InterfaceRole::Bridge:
  case model::InterfaceRole::Uplink:
  case model::InterfaceRole::Other:
    break;
  }
  return truncate(h.interface, 10);
}

Line path_line(const flows::Path& path, bool spaced, bool color) {
  Line l;
  for (std::size_t i = 0; i < path.hops.size(); ++i) {
    const auto& h = path.hops[i];
    if (i > 0) {
      // ⇢ where the packet leaves a node (to the gateway or to another node), ▸ within one.
      const char* arrow = h.node != path.hops[i - 1].node ? "⇢" : "▸";
      append(l, spaced ? fmt::format(" {} ", arrow) : std::string(arrow), color ? dim() : Attr{});
    }
    const std::string label = hop_label(h);
    switch (h.state) {
    case flows::HopState::Missing:
      if (color) {
        append(l, label, colored(Color::Red, true, true));
      } else {
        append(l, "✗" + label, bold());
      }
      break;
    case flows::HopState::Unexpected:
    case flows::HopState::Unknown:
      append(l, color ? label : "?" + label, colored(Color::Yellow, color));
      break;
    case flows::HopState::Unwatched:
      append(l, label, dim());
      break;
    case flows::HopState::Virtual:
      append(l, label, colored(Color::Cyan, color));
      break;
    case flows::HopState::Observed:
      append(l, label);
      break;
    }
  }
  return l;
}

std::string total_text(const DirectionView& d, SortKey sort) {
  return sort == SortKey::Bytes ? format_bytes(d.flow->bytes()) : fmt::format("{} pkt", d.flow->packets());
}

/// The cells of one list row, before alignment.
struct Row {
  std::size_t conversation = 0;
  bool reply = false;
  Line src, dst, path;
  std::string proto, rate, total;
};

std::vector<Row> list_rows(const std::vector<ConversationView>& rows, const UiState& s, const Form& f) {
  std::vector<Row> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& fwd = rows[i].forward;
    out.push_back({i, false, endpoint_line(fwd.src, f.names, s.color),
                   endpoint_line(fwd.dst, f.names, s.color), path_line(fwd.path, f.spaced, s.color),
                   proto_text(fwd.flow->key, f.ports), format_pps(fwd.flow->pps()), total_text(fwd, s.sort)});
    if (s.show_reply && rows[i].reverse) {
      const auto& rev = *rows[i].reverse;
      out.push_back({i, true, text_line("  ↩", dim()), Line{}, path_line(rev.path, f.spaced, s.color), "",
                     format_pps(rev.flow->pps()), total_text(rev, s.sort)});
    }
  }
  return out;
}

struct Columns {
  std::size_t src = 0, dst = 0, proto = 0, path = 0, rate = 0, total = 0;
  [[nodiscard]] std::size_t line() const {
    return 2 + src + 3 + dst + 2 + proto + 2 + path + 2 + rate + 2 + total;
  }
};

const char* total_title(SortKey sort) { return sort == SortKey::Bytes ? "BYTES" : "PACKETS"; }

std::string title(const char* text, bool sorted) {
  return sorted ? std::string(text) + "▾" : std::string(text);
}

Columns measure(const std::vector<Row>& rows, SortKey sort) {
  Columns c;
  c.src = 4;  // the titles
  c.dst = 2;
  c.proto = 5;
  c.path = 4;
  c.rate = display_width(title("RATE", sort == SortKey::Rate));
  c.total = display_width(title(total_title(sort), sort != SortKey::Rate));
  for (const auto& r : rows) {
    c.src = std::max(c.src, r.src.width());
    c.dst = std::max(c.dst, r.dst.width());
    c.proto = std::max(c.proto, display_width(r.proto));
    c.path = std::max(c.path, r.path.width());
    c.rate = std::max(c.rate, display_width(r.rate));
    c.total = std::max(c.total, display_width(r.total));
  }
  return c;
}

/// The rows in the richest form that fits `width`; when even the plainest does not, the
/// endpoint columns share what is left.
std::pair<std::vector<Row>, Columns> layout(const std::vector<ConversationView>& rows, const UiState& s,
                                            std::size_t width) {
  for (const auto& f : kForms) {
    auto r = list_rows(rows, s, f);
    const Columns c = measure(r, s.sort);
    if (c.line() <= width || &f == &kForms.back()) {
      if (c.line() <= width) return {std::move(r), c};
      Columns cut = c;
      const std::size_t fixed = c.line() - c.src - c.dst;
      const std::size_t room = width > fixed + 8 ? width - fixed : 8;
      cut.src = std::min(c.src, std::max<std::size_t>(4, room / 2));
      cut.dst = std::min(c.dst, std::max<std::size_t>(4, room - cut.src));
      return {std::move(r), cut};
    }
  }
  return {};
}

Line row_line(const Row& r, const Columns& c, bool selected) {
  Line l = text_line(selected && !r.reply ? "▶ " : "  ", bold());
  Line src = fit(r.src, c.src);
  pad(src, c.src);
  append(l, src);
  append(l, r.reply ? "   " : " → ");
  Line dst = fit(r.dst, c.dst);
  pad(dst, c.dst);
  append(l, dst);
  append(l, "  " + pad_right(r.proto, c.proto) + "  ");
  Line path = r.path;
  pad(path, c.path);
  append(l, path);
  append(l, "  " + pad_left(r.rate, c.rate) + "  " + pad_left(r.total, c.total));
  return l;
}

Line titles_line(const Columns& c, SortKey sort) {
  std::string t = "  " + pad_right("FROM", c.src) + "   " + pad_right("TO", c.dst) + "  " +
                  pad_right("PROTO", c.proto) + "  " + pad_right("PATH", c.path) + "  " +
                  pad_left(title("RATE", sort == SortKey::Rate), c.rate) + "  " +
                  pad_left(title(total_title(sort), sort != SortKey::Rate), c.total);
  return text_line(t, bold());
}

// ----------------------------------------------------------------------------- regions

const char* sort_name(SortKey sort) {
  switch (sort) {
  case SortKey::Packets:
    return "packets";
  case SortKey::Bytes:
    return "bytes";
  case SortKey::Rate:
  case SortKey::None:
    break;
  }
  return "rate";
}

/// Rows of the screen between the titles and the status line, split between the list
/// and the hop-by-hop view of the selected conversation.
struct Regions {
  std::size_t list = 0;    ///< rows for the list
  std::size_t detail = 0;  ///< rows for the rule and the hop-by-hop lines
};

Regions regions(std::size_t body, std::size_t list_lines, std::size_t detail_lines) {
  if (detail_lines == 0) return {body, 0};
  const std::size_t want = detail_lines + 1;  // the rule above it
  const std::size_t least = std::min(list_lines, std::max<std::size_t>(3, body / 3));
  std::size_t list = body > want ? std::max(least, body - want) : least;
  list = std::min({list, list_lines, body});
  return {list, body - list};
}

std::size_t body_rows(Size size) { return size.rows > 3 ? size.rows - 3 : 0; }

std::vector<std::string> detail_text(const ConversationView& v, const UiState& s, std::size_t width) {
  TableOptions o;
  o.color = s.color;
  o.width = width;
  o.sort = SortKey::None;
  o.show_reverse = s.show_reply;
  const std::string text = render_flow_table({v}, o);
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

std::string health_text(const Status& st, bool& bad) {
  const std::uint64_t lost = st.container_flows_lost + datapath_losses(st.counters);
  bad = lost != 0;
  return bad ? fmt::format("health: {} lost", lost) : "health ok";
}

Line header_line(const Status& st, const UiState& s, std::size_t width) {
  bool bad = false;
  const std::string health = health_text(st, bad);
  Line right;
  if (s.paused) append(right, "PAUSED · ", colored(Color::Yellow, s.color, true));
  append(right, health, bad ? colored(Color::Red, s.color, true) : Attr{});
  append(right, " · " + st.clock + " ");
  const std::string left = " podpath trace · " + st.cluster + " · " + st.attach;
  const std::size_t room = width > right.width() + 1 ? width - right.width() - 1 : 0;
  Line l = text_line(truncate(left, room), bold());
  pad(l, width > right.width() ? width - right.width() : 0);
  append(l, right);
  l = fit(l, width);
  for (auto& span : l.spans) span.attr.reverse = true;  // a bar, as in top
  return l;
}

Line status_line(const std::vector<ConversationView>& views, const std::vector<ConversationView>& rows,
                 const Status& st, const UiState& s, std::size_t width) {
  if (s.mode == Mode::Filter) {
    Line l = text_line("/", bold());
    append(l, s.input);
    Attr cursor;
    cursor.reverse = true;
    append(l, " ", cursor);
    if (!s.error.empty()) {
      append(l, "  ");
      append(l, s.color ? s.error : "✗ " + s.error, colored(Color::Red, s.color, true));
    } else {
      append(l, "  Enter applies · Esc cancels · empty clears · e.g. --pod web --proto tcp", dim());
    }
    return fit(l, width);
  }
  // "of" all the conversations the filter could show: control traffic stays out unless asked for.
  FlowFilter all;
  all.control_traffic = s.filter.control_traffic;
  const auto total = std::count_if(views.begin(), views.end(), [&](const auto& v) { return all.matches(v); });
  const auto noun = [](std::size_t n) { return n == 1 ? "conversation" : "conversations"; };
  std::string left = s.filter.empty() ? fmt::format(" {} {}", rows.size(), noun(rows.size()))
                                      : fmt::format(" {} of {} {}", rows.size(), total,
                                                    noun(static_cast<std::size_t>(total)));
  left += fmt::format(" · sort: {}", sort_name(s.sort));
  if (!s.filter_text.empty()) left += " · filter: " + s.filter_text;
  Line l = text_line(left);
  if (s.paused) append(l, " · PAUSED", colored(Color::Yellow, s.color, true));
  const std::size_t used = l.width();
  if (!st.log.empty()) {
    append(l, "  ");
    append(l, st.log, colored(Color::Yellow, s.color));
    return fit(l, width);
  }
  for (const char* hints : {"↑↓ select  Enter expand  / filter  s sort  p pause  r replies  ? help  q quit ",
                            "? help  q quit "}) {
    const std::size_t w = display_width(hints);
    if (used + 2 + w <= width) {
      pad(l, width - w);
      append(l, hints, dim());
      return l;
    }
  }
  return fit(l, width);
}

/// Everything the screen's layout depends on, for render() and page_size().
struct Frame {
  std::optional<std::size_t> selected;
  std::vector<Row> cells;
  Columns columns;
  std::vector<std::string> detail;
  Regions regions;
};

Frame frame(const std::vector<ConversationView>& rows, const UiState& s, Size size) {
  Frame f;
  f.selected = selected_index(s, rows);
  std::tie(f.cells, f.columns) = layout(rows, s, size.cols);
  if (s.expanded && f.selected) f.detail = detail_text(rows[*f.selected], s, size.cols);
  f.regions = regions(body_rows(size), f.cells.size(), f.detail.size());
  return f;
}

const std::array<const char*, 17> kHelp{
    "Keys",
    "  ↑ ↓  j k      select a conversation (PgUp PgDn Home End: by page, first, last)",
    "  Enter         show or hide the selected conversation hop by hop",
    "  /             filter with the flags of podpath trace, e.g. --pod web --proto tcp",
    "                (--pod, --namespace/-n, --node, --cidr, --proto, --port, --control;",
    "                 empty clears the filter; Esc cancels)",
    "  s             sort by rate, packets or bytes",
    "  p             pause the view (podpath keeps counting)",
    "  r             show or hide reply paths",
    "  ?             this help (any key closes it)",
    "  q  Ctrl-C     quit (podpath detaches from every interface)",
    "",
    "Paths",
    "  veth ▸ cbr0   the next hop on the same node     ⇢  the packet leaves the node",
    "  gw            the underlay router (not observed: shown for its route)",
    "  red or ✗      a hop the routes predict where the packets were not seen",
    "  FROM and TO: the pod, its IP with the 4th octet highlighted",
};

}  // namespace

// ----------------------------------------------------------------------------- public

std::size_t Line::width() const {
  std::size_t w = 0;
  for (const auto& s : spans) w += display_width(s.text);
  return w;
}

std::string Line::text() const {
  std::string t;
  for (const auto& s : spans) t += s.text;
  return t;
}

std::string Screen::text() const {
  std::string t;
  for (const auto& l : lines) t += l.text() + "\n";
  return t;
}

Line parse_styled(std::string_view styled) {
  Line line;
  Attr attr;
  std::size_t i = 0;
  while (i < styled.size()) {
    if (styled[i] == '\x1b' && i + 1 < styled.size() && styled[i + 1] == '[') {
      const auto end = styled.find('m', i + 2);
      if (end == std::string_view::npos) break;
      std::string_view params = styled.substr(i + 2, end - i - 2);
      if (params.empty()) attr = {};
      while (!params.empty()) {
        const auto semi = params.find(';');
        const std::string_view p = params.substr(0, semi);
        if (p == "0") attr = {};
        if (p == "1") attr.bold = true;
        if (p == "2") attr.dim = true;
        if (p == "7") attr.reverse = true;
        if (p == "22") attr.bold = attr.dim = false;
        if (p == "31") attr.color = Color::Red;
        if (p == "32") attr.color = Color::Green;
        if (p == "33") attr.color = Color::Yellow;
        if (p == "36") attr.color = Color::Cyan;
        if (p == "39") attr.color = Color::Default;
        params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
      }
      i = end + 1;
      continue;
    }
    const auto next = styled.find('\x1b', i);
    append(line, styled.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i), attr);
    i = next == std::string_view::npos ? styled.size() : next;
  }
  return line;
}

Line fit(Line line, std::size_t width) {
  if (line.width() <= width) return line;
  Line out;
  if (width == 0) return out;
  std::size_t shown = 0;
  Attr last;
  for (const auto& s : line.spans) {
    std::string part;
    for (const char ch : s.text) {
      if (!is_continuation(static_cast<unsigned char>(ch))) {
        if (shown + 1 == width) break;
        ++shown;
      }
      part += ch;
    }
    append(out, part, s.attr);
    last = s.attr;
    if (shown + 1 == width) break;
  }
  append(out, "…", last);
  return out;
}

std::string short_pod_name(std::string_view name) {
  auto alnum = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
  };
  // Kubernetes' generated suffixes use these characters (no vowels, no 0, 1, 3).
  auto generated = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
      return std::string_view("bcdfghjklmnpqrstvwxz2456789").find(c) != std::string_view::npos;
    });
  };
  const auto last = name.rfind('-');
  if (last == std::string_view::npos || last == 0 || name.size() - last - 1 != 5) return std::string(name);
  const std::string_view suffix = name.substr(last + 1);
  const std::string_view rest = name.substr(0, last);
  const auto prev = rest.rfind('-');
  if (prev != std::string_view::npos && prev > 0) {
    const std::string_view hash = rest.substr(prev + 1);
    // Deployment: NAME-<pod-template-hash>-<5>
    if (hash.size() >= 6 && hash.size() <= 10 && alnum(hash) && alnum(suffix))
      return std::string(rest.substr(0, prev));
  }
  // DaemonSet, Job: NAME-<5>
  if (generated(suffix)) return std::string(rest);
  return std::string(name);
}

std::vector<ConversationView> visible(std::vector<ConversationView> views, const UiState& state) {
  views = state.filter.apply(std::move(views));
  std::sort(views.begin(), views.end(), [](const ConversationView& a, const ConversationView& b) {
    return a.forward.flow->key < b.forward.flow->key;
  });
  // By rate, the list sorts by what its RATE column counts: packets per second.
  if (state.sort == SortKey::Rate) {
    std::stable_sort(views.begin(), views.end(),
                     [](const ConversationView& a, const ConversationView& b) { return a.pps() > b.pps(); });
  } else {
    sort_conversations(views, state.sort);
  }
  if (!state.order.empty()) {
    // Back to the previous order (new conversations after it, in sorted order) ...
    auto place = [&](const ConversationView& v) {
      const auto it = std::find(state.order.begin(), state.order.end(), v.forward.flow->key);
      return static_cast<std::size_t>(it - state.order.begin());
    };
    std::stable_sort(views.begin(), views.end(), [&](const ConversationView& a, const ConversationView& b) {
      return place(a) < place(b);
    });
    // ... then a row moves up only past rows it clearly beats. Each swap puts a larger
    // value first, so this ends.
    const auto metric = [&](const ConversationView& v) {
      switch (state.sort) {
      case SortKey::Packets:
        return static_cast<double>(v.packets());
      case SortKey::Bytes:
        return static_cast<double>(v.bytes());
      case SortKey::Rate:
      case SortKey::None:
        break;
      }
      return v.pps();
    };
    for (bool swapped = true; swapped;) {
      swapped = false;
      for (std::size_t i = 1; i < views.size(); ++i) {
        if (metric(views[i]) > metric(views[i - 1]) * kClearlyBusier) {
          std::swap(views[i], views[i - 1]);
          swapped = true;
        }
      }
    }
  }
  if (state.limit != 0 && views.size() > state.limit) views.resize(state.limit);
  return views;
}

std::vector<model::FlowKey> order_of(const std::vector<ConversationView>& rows) {
  std::vector<model::FlowKey> keys;
  keys.reserve(rows.size());
  for (const auto& r : rows) keys.push_back(r.forward.flow->key);
  return keys;
}

std::optional<std::size_t> selected_index(const UiState& state, const std::vector<ConversationView>& rows) {
  if (rows.empty()) return std::nullopt;
  if (state.selected) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].forward.flow->key == *state.selected) return i;
    }
  }
  return std::min(state.selected_row, rows.size() - 1);
}

std::size_t page_size(const std::vector<ConversationView>& rows, const UiState& state, Size size) {
  const Frame f = frame(rows, state, size);
  return std::max<std::size_t>(1, f.regions.list / (state.show_reply ? 2 : 1));
}

Effect reduce(UiState& s, const Key& key, const std::vector<ConversationView>& rows, std::size_t page,
              const FilterParser& parse) {
  if (key.code == KeyCode::Resize) return Effect::Redraw;
  if (s.mode == Mode::Help) {
    if (key.code == KeyCode::Char && key.ch == U'q') return Effect::Quit;
    s.mode = Mode::List;
    return Effect::Redraw;
  }
  if (s.mode == Mode::Filter) {
    switch (key.code) {
    case KeyCode::Escape:
      s.mode = Mode::List;
      s.input.clear();
      s.error.clear();
      return Effect::Redraw;
    case KeyCode::Enter: {
      auto f = parse(s.input);
      if (!f) {
        s.error = f.error().message;
        return Effect::Redraw;
      }
      s.filter = std::move(*f);
      s.filter_text = s.input;
      s.filter_text.erase(0, s.filter_text.find_first_not_of(' '));
      s.filter_text.erase(s.filter_text.find_last_not_of(' ') + 1);
      s.mode = Mode::List;
      s.input.clear();
      s.error.clear();
      return Effect::Redraw;
    }
    case KeyCode::Backspace:
      while (!s.input.empty() && is_continuation(static_cast<unsigned char>(s.input.back())))
        s.input.pop_back();
      if (!s.input.empty()) s.input.pop_back();
      s.error.clear();
      return Effect::Redraw;
    case KeyCode::Char:
      if (key.ch == kCtrlU) {
        s.input.clear();
      } else if (key.ch >= 0x20 && key.ch != 0x7f) {
        const auto c = static_cast<std::uint32_t>(key.ch);
        if (c < 0x80) {
          s.input += static_cast<char>(c);
        } else if (c < 0x800) {
          s.input += static_cast<char>(0xC0 | (c >> 6));
          s.input += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
          s.input += static_cast<char>(0xE0 | (c >> 12));
          s.input += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
          s.input += static_cast<char>(0x80 | (c & 0x3F));
        } else {
          s.input += static_cast<char>(0xF0 | (c >> 18));
          s.input += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
          s.input += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
          s.input += static_cast<char>(0x80 | (c & 0x3F));
        }
      } else {
        return Effect::None;
      }
      s.error.clear();
      return Effect::Redraw;
    default:
      return Effect::None;
    }
  }

  const auto at = selected_index(s, rows);
  auto select = [&](std::size_t i) {
    if (rows.empty()) return Effect::None;
    i = std::min(i, rows.size() - 1);
    s.selected = rows[i].forward.flow->key;
    s.selected_row = i;
    return Effect::Redraw;
  };
  const std::size_t i = at.value_or(0);
  switch (key.code) {
  case KeyCode::Up:
    return select(i > 0 ? i - 1 : 0);
  case KeyCode::Down:
    return select(i + 1);
  case KeyCode::PageUp:
    return select(i > page ? i - page : 0);
  case KeyCode::PageDown:
    return select(i + page);
  case KeyCode::Home:
    return select(0);
  case KeyCode::End:
    return select(rows.empty() ? 0 : rows.size() - 1);
  case KeyCode::Enter:
    s.expanded = !s.expanded;
    return Effect::Redraw;
  case KeyCode::Char:
    break;
  case KeyCode::Escape:
  case KeyCode::Backspace:
  case KeyCode::Resize:
  case KeyCode::Other:
    return Effect::None;
  }
  switch (key.ch) {
  case U'k':
    return select(i > 0 ? i - 1 : 0);
  case U'j':
    return select(i + 1);
  case U'g':
    return select(0);
  case U'G':
    return select(rows.empty() ? 0 : rows.size() - 1);
  case U'/':
    s.mode = Mode::Filter;
    s.input = s.filter_text;
    s.error.clear();
    return Effect::Redraw;
  case U's':
    s.sort = s.sort == SortKey::Rate      ? SortKey::Packets
             : s.sort == SortKey::Packets ? SortKey::Bytes
                                          : SortKey::Rate;
    s.order.clear();
    return Effect::Redraw;
  case U'p':
    s.paused = !s.paused;
    return Effect::Redraw;
  case U'r':
    s.show_reply = !s.show_reply;
    return Effect::Redraw;
  case U'?':
    s.mode = Mode::Help;
    return Effect::Redraw;
  case U'q':
    return Effect::Quit;
  default:
    return Effect::None;
  }
}

Screen render(const std::vector<ConversationView>& views, const Status& st, const UiState& s, Size size) {
  Screen screen;
  if (size.rows == 0 || size.cols == 0) return screen;
  const std::size_t width = size.cols;
  const auto rows = visible(views, s);
  const Frame f = frame(rows, s, size);

  std::vector<Line> body;
  if (s.mode == Mode::Help) {
    for (const std::string_view h : kHelp)
      body.push_back(fit(text_line(h, h.starts_with("  ") ? Attr{} : bold()), width));
  } else if (rows.empty()) {
    body.push_back(
        fit(text_line(views.empty() || s.filter.empty()
                          ? "  no flows yet: waiting for pod traffic"
                          : "  no conversation matches the filter (/ changes it; an empty filter shows all)",
                      dim()),
            width));
  } else {
    // The window of the list that holds the selected conversation.
    std::size_t first = f.cells.size(), last = 0;
    for (std::size_t r = 0; r < f.cells.size(); ++r) {
      if (f.selected && f.cells[r].conversation == *f.selected) {
        first = std::min(first, r);
        last = r + 1;
      }
    }
    const std::size_t start = std::min(first, last > f.regions.list ? last - f.regions.list : 0);
    for (std::size_t r = start; r < f.cells.size() && r < start + f.regions.list; ++r) {
      const bool is_selected = f.selected && f.cells[r].conversation == *f.selected;
      Line l = fit(row_line(f.cells[r], f.columns, is_selected), width);
      if (is_selected) {
        pad(l, width);
        for (auto& span : l.spans) span.attr.reverse = true;
      }
      body.push_back(std::move(l));
    }
    if (f.regions.detail > 1) {
      std::string rule;
      for (std::size_t c = 0; c < width; ++c) rule += "─";
      body.push_back(text_line(rule, dim()));
      const std::size_t room = f.regions.detail - 1;
      for (std::size_t d = 0; d < f.detail.size() && d < room; ++d) {
        if (d + 1 == room && f.detail.size() > room) {
          body.push_back(fit(
              text_line(fmt::format("  … {} more line(s): r hides reply paths", f.detail.size() - d), dim()),
              width));
          break;
        }
        body.push_back(fit(parse_styled(f.detail[d]), width));
      }
    }
  }
  screen.lines.push_back(header_line(st, s, width));
  if (size.rows >= 3)
    screen.lines.push_back(fit(s.mode == Mode::Help ? Line{} : titles_line(f.columns, s.sort), width));
  for (std::size_t r = 0; r < body_rows(size); ++r)
    screen.lines.push_back(r < body.size() ? body[r] : Line{});
  if (size.rows >= 2) screen.lines.push_back(status_line(views, rows, st, s, width));
  screen.lines.resize(size.rows);
  return screen;
}

}  // namespace podpath::output::live
