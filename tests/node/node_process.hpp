// tests/node/node_process.hpp — starts the real plasma-node binary on an
// ephemeral loopback port, reads its "listening on" line, and stops it
// (SIGTERM, then SIGKILL if it does not exit in time).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace plasma_test {

class NodeProcess {
 public:
  // Starts PLASMA_NODE_BINARY --listen 127.0.0.1:0 --data <dir> <extra...>.
  NodeProcess(const std::filesystem::path& data, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{PLASMA_NODE_BINARY, "--listen", "127.0.0.1:0", "--data", data.string(),
                                  "--log-level", "warn", "--durability", "nometasync"};
    for (auto& a : extra) args.push_back(std::move(a));
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // Dies with the process that started it (a crashed or timed-out test leaves no node behind).
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);  // that process died before prctl
      dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    stdout_ = out[0];
    readListeningLine();
  }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;
  ~NodeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stdout_ >= 0) close(stdout_);
  }

  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }

  void signal(int sig) const { kill(pid_, sig); }

  // Sends SIGTERM and waits (bounded) for the exit; returns the exit status.
  int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    kill(pid_, SIGTERM);
    return waitExit(timeout);
  }

  int waitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
      const pid_t r = waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("plasma-node did not exit in time");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  void readListeningLine() {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("plasma-node printed no 'listening on' line in time");
      pollfd p{stdout_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[256];
      const ssize_t n = read(stdout_, buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("plasma-node exited before listening: " + line);
      line.append(buf, static_cast<std::size_t>(n));
    }
    const std::string prefix = "listening on http://127.0.0.1:";
    const auto at = line.find(prefix);
    if (at == std::string::npos) throw std::runtime_error("unexpected first line from plasma-node: " + line);
    port_ = static_cast<std::uint16_t>(std::stoi(line.substr(at + prefix.size())));
  }

  pid_t pid_ = -1;
  int stdout_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace plasma_test
