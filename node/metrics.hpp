// node/metrics.hpp — the node's counters and histograms, rendered in the
// Prometheus text exposition format (version 0.0.4) at GET /metrics.
//
// Recording is cheap and thread-safe: histograms are fixed bucket arrays of
// relaxed atomics; the per-(route, status) request counters live in a small
// map under a mutex (a handful of distinct keys, touched once per request).
// Gauges that are cheaper to read than to maintain (change-log head, open
// sockets, the SyncServer's counters) are collected at scrape time by the
// node and passed to render() as extra samples.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plasma::node {

// A cumulative histogram with fixed upper bounds (plus +Inf).
class Histogram {
 public:
  // `bounds` must be ascending; at most kMaxBuckets of them.
  explicit Histogram(std::span<const double> bounds);
  void observe(double value) noexcept;
  // Appends `name_bucket{le=..}`, `name_sum` and `name_count` lines.
  void render(std::string& out, std::string_view name) const;

  static constexpr std::size_t kMaxBuckets = 24;

 private:
  std::vector<double> bounds_;
  std::array<std::atomic<std::uint64_t>, kMaxBuckets + 1> counts_{};  // last: +Inf
  std::atomic<std::uint64_t> count_{0};
  // The sum in nano-units (values are seconds or small counts), so it can be
  // an integer atomic.
  std::atomic<std::uint64_t> sum_nanos_{0};
};

// One sample the node computes at scrape time.
struct MetricSample {
  std::string name;  // full metric name, e.g. plasma_changelog_head
  std::string type;  // "counter" or "gauge"
  std::string help;
  double value = 0;
  std::string labels;  // already formatted, e.g. `reason="flood"`, or empty
};

class Metrics {
 public:
  Metrics();

  // One finished HTTP request (route: "push", "pull", "poke", "metrics",
  // "healthz", "ws", "other").
  void request(std::string_view route, int status) noexcept;
  // Latencies, from the request being handed to the node to its answer.
  void pushLatency(std::chrono::nanoseconds d) noexcept { push_seconds_.observe(toSeconds(d)); }
  void pullLatency(std::chrono::nanoseconds d) noexcept { pull_seconds_.observe(toSeconds(d)); }
  // Pushes acknowledged by one group commit.
  void groupCommit(std::size_t pushes) noexcept { batch_pushes_.observe(static_cast<double>(pushes)); }
  // From a commit's acknowledgement to its pokes being handed to the sockets.
  void pokeFanout(std::chrono::nanoseconds d) noexcept { poke_seconds_.observe(toSeconds(d)); }

  // The whole exposition: the metrics recorded here, then `extra` (samples
  // sharing a name must be adjacent, so TYPE/HELP lines are written once).
  std::string render(const std::vector<MetricSample>& extra) const;

  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  static double toSeconds(std::chrono::nanoseconds d) noexcept { return std::chrono::duration<double>(d).count(); }

  mutable std::mutex mu_;
  std::map<std::string, std::map<int, std::uint64_t>, std::less<>> requests_;  // route -> status -> count
  Histogram push_seconds_, pull_seconds_, batch_pushes_, poke_seconds_;
};

// Escapes a label value for the text format (backslash, quote, newline).
std::string promLabelValue(std::string_view v);

}  // namespace plasma::node
