#include "node/metrics.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace plasma::node {

namespace {

// Latency buckets, in seconds: 100 µs to 10 s.
constexpr double kLatencyBounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5, 5, 10};
// Pushes per group commit (the writer takes at most 256).
constexpr double kBatchBounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

// A number as Prometheus reads it: integers without a fraction, others with
// enough digits to round-trip.
void appendNumber(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.9g", v);
  }
  out += buf;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n");
  out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

}  // namespace

std::string promLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::span<const double> bounds) : bounds_(bounds.begin(), bounds.end()) {
  if (bounds_.size() > kMaxBuckets) throw std::invalid_argument("Histogram: too many buckets");
}

void Histogram::observe(double value) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;  // a dozen compares: cheaper than a search
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  const double nanos = value * 1e9;
  sum_nanos_.fetch_add(nanos > 0 ? static_cast<std::uint64_t>(nanos) : 0, std::memory_order_relaxed);
}

void Histogram::render(std::string& out, std::string_view name) const {
  // Cumulative counts; read bucket by bucket (a scrape racing observations
  // may be off by the few in flight, as with any Prometheus client).
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out.append(name).append("_bucket{le=\"");
    appendNumber(out, i < bounds_.size() ? bounds_[i] : INFINITY);
    out.append("\"} ");
    appendNumber(out, static_cast<double>(cumulative));
    out += '\n';
  }
  out.append(name).append("_sum ");
  appendNumber(out, static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9);
  out += '\n';
  out.append(name).append("_count ");
  // The +Inf bucket and _count must agree: report the cumulative total.
  appendNumber(out, static_cast<double>(cumulative));
  out += '\n';
}

Metrics::Metrics()
    : push_seconds_(kLatencyBounds),
      pull_seconds_(kLatencyBounds),
      batch_pushes_(kBatchBounds),
      poke_seconds_(kLatencyBounds) {}

void Metrics::request(std::string_view route, int status) noexcept {
  try {
    std::lock_guard lock(mu_);
    auto it = requests_.find(route);
    if (it == requests_.end()) it = requests_.emplace(std::string(route), std::map<int, std::uint64_t>{}).first;
    ++it->second[status];
  } catch (...) {
    // Out of memory while counting: drop the sample, never the request.
  }
}

std::string Metrics::render(const std::vector<MetricSample>& extra) const {
  std::string out;
  out.reserve(4096);
  header(out, "plasma_http_requests_total", "counter", "HTTP requests answered, by route and status code.");
  {
    std::lock_guard lock(mu_);
    for (const auto& [route, statuses] : requests_) {
      for (const auto& [status, n] : statuses) {
        out.append("plasma_http_requests_total{route=\"").append(promLabelValue(route));
        out.append("\",status=\"").append(std::to_string(status)).append("\"} ");
        appendNumber(out, static_cast<double>(n));
        out += '\n';
      }
    }
  }
  header(out, "plasma_push_duration_seconds", "histogram",
         "Push requests, from decoding to the durable answer (group commit included).");
  push_seconds_.render(out, "plasma_push_duration_seconds");
  header(out, "plasma_pull_duration_seconds", "histogram", "Pull requests, from decoding to the encoded answer.");
  pull_seconds_.render(out, "plasma_pull_duration_seconds");
  header(out, "plasma_group_commit_pushes", "histogram",
         "Pushes acknowledged per group commit (observed when the commit is acknowledged).");
  batch_pushes_.render(out, "plasma_group_commit_pushes");
  header(out, "plasma_poke_fanout_seconds", "histogram",
         "From a commit becoming durable (or a poke request) to its pokes being queued on every socket.");
  poke_seconds_.render(out, "plasma_poke_fanout_seconds");

  std::string_view last_name;
  for (const auto& s : extra) {
    if (s.name != last_name) {
      header(out, s.name, s.type, s.help);
      last_name = s.name;
    }
    out.append(s.name);
    if (!s.labels.empty()) out.append("{").append(s.labels).append("}");
    out += ' ';
    appendNumber(out, s.value);
    out += '\n';
  }
  return out;
}

}  // namespace plasma::node
