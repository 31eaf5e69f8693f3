// node/log.hpp — structured, levelled logs to stderr: one line per event,
// `ts=... level=... msg="..." key=value ...`, written atomically so lines
// from different threads never interleave.
#pragma once

#include <atomic>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace plasma::node {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };

std::optional<LogLevel> parseLogLevel(std::string_view s);
std::string_view logLevelName(LogLevel l) noexcept;

using LogField = std::pair<std::string_view, std::string_view>;

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::Info) : level_(level) {}
  bool enabled(LogLevel l) const noexcept { return l >= level_.load(std::memory_order_relaxed); }
  void setLevel(LogLevel l) noexcept { level_.store(l, std::memory_order_relaxed); }
  void log(LogLevel l, std::string_view msg, std::initializer_list<LogField> fields = {}) const;
  void debug(std::string_view m, std::initializer_list<LogField> f = {}) const { log(LogLevel::Debug, m, f); }
  void info(std::string_view m, std::initializer_list<LogField> f = {}) const { log(LogLevel::Info, m, f); }
  void warn(std::string_view m, std::initializer_list<LogField> f = {}) const { log(LogLevel::Warn, m, f); }
  void error(std::string_view m, std::initializer_list<LogField> f = {}) const { log(LogLevel::Error, m, f); }

 private:
  std::atomic<LogLevel> level_;
};

}  // namespace plasma::node
