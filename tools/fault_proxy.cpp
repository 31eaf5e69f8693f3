// plasma-fault-proxy: the fault proxy (tools/fault_proxy.hpp) on its own, in
// front of any node, for trying a client against a bad network by hand.
//
//   plasma-fault-proxy --upstream PORT [--seed S] [--drop P] [--truncate-request P]
//                      [--duplicate P] [--delay P] [--max-delay-ms N] [--reset P]
//                      [--truncate-response P] [--ws-delay P] [--ws-reset P]
//
// Prints `listening on http://127.0.0.1:PORT` (and the seed), then proxies
// until SIGINT/SIGTERM, printing its counters every 5 s.
#include <signal.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>

#include "fault_proxy.hpp"

namespace {

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "plasma-fault-proxy: " << why
            << "\nusage: plasma-fault-proxy --upstream PORT [--seed S] [--drop P] [--truncate-request P] [--duplicate P]"
               " [--delay P] [--max-delay-ms N] [--reset P] [--truncate-response P] [--ws-delay P] [--ws-reset P]\n";
  std::exit(2);
}

double probability(const std::string& flag, const char* v) {
  char* end = nullptr;
  const double p = std::strtod(v, &end);
  if (end == v || *end != '\0' || !(p >= 0 && p <= 1)) usage(flag + ": a probability from 0 to 1");
  return p;
}

std::uint64_t number(const std::string& flag, const char* v, std::uint64_t max) {
  std::uint64_t n = 0;
  const std::string_view s(v);
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || n > max) usage(flag + ": bad number");
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int upstream = 0;
  std::uint64_t seed = std::random_device{}();
  plasma_tools::FaultProfile f;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage(flag + ": missing value");
      return argv[++i];
    };
    if (flag == "--upstream") upstream = static_cast<int>(number(flag, value(), 65535));
    else if (flag == "--seed") seed = number(flag, value(), UINT64_MAX);
    else if (flag == "--drop") f.drop = probability(flag, value());
    else if (flag == "--truncate-request") f.truncate_request = probability(flag, value());
    else if (flag == "--duplicate") f.duplicate = probability(flag, value());
    else if (flag == "--delay") f.delay = probability(flag, value());
    else if (flag == "--max-delay-ms") f.max_delay_ms = static_cast<int>(number(flag, value(), 600000));
    else if (flag == "--reset") f.reset_after = probability(flag, value());
    else if (flag == "--truncate-response") f.truncate_response = probability(flag, value());
    else if (flag == "--ws-delay") f.ws_delay = probability(flag, value());
    else if (flag == "--ws-reset") f.ws_reset = probability(flag, value());
    else usage("unknown flag " + flag);
  }
  if (upstream == 0) usage("--upstream is required");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts
  signal(SIGPIPE, SIG_IGN);
  plasma_tools::FaultProxy proxy(static_cast<std::uint16_t>(upstream), seed);
  proxy.setProfile(f);
  std::printf("listening on http://127.0.0.1:%u (seed %llu)\n", proxy.port(), static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  for (;;) {
    timespec ts{5, 0};
    const int sig = sigtimedwait(&set, nullptr, &ts);
    const auto& s = proxy.stats();
    std::fprintf(stderr,
                 "requests %llu dropped %llu truncated %llu duplicated %llu delayed %llu resets %llu truncated-answers %llu "
                 "ws %llu ws-delayed %llu ws-resets %llu\n",
                 (unsigned long long)s.requests.load(), (unsigned long long)s.dropped.load(),
                 (unsigned long long)s.truncated_requests.load(), (unsigned long long)s.duplicated.load(),
                 (unsigned long long)s.delayed.load(), (unsigned long long)s.resets.load(),
                 (unsigned long long)s.truncated_responses.load(), (unsigned long long)s.ws_connections.load(),
                 (unsigned long long)s.ws_delayed.load(), (unsigned long long)s.ws_resets.load());
    if (sig == SIGINT || sig == SIGTERM) break;
  }
  proxy.stop();
  return 0;
}
