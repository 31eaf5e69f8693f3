// tests/reliability/reliability_util.hpp — running code where the file
// system fights back: a forked child with a file-size limit (what a full
// disk looks like to LMDB: writes fail with EFBIG), or running as the
// unprivileged user `nobody` (root ignores permissions, so a read-only
// directory needs another user), and a small tmpfs mount (a real ENOSPC)
// where the container allows mounting.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace plasma_rel {

namespace fs = std::filesystem;

// What a child run reported: its exit code (128 + signal when killed) and
// what it wrote to `say`.
struct ChildResult {
  int exit_code = -1;
  std::string said;
};

// What to change in a child before it runs.
struct ChildLimits {
  std::optional<std::uint64_t> max_file_bytes;  // RLIMIT_FSIZE; SIGXFSZ ignored so writes fail with EFBIG
  bool as_nobody = false;                       // setgid/setuid to nobody
};

inline void applyLimits(const ChildLimits& limits) {
  if (limits.max_file_bytes) {
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit r{*limits.max_file_bytes, *limits.max_file_bytes};
    if (::setrlimit(RLIMIT_FSIZE, &r) != 0) _exit(120);
  }
  if (limits.as_nobody) {
    const passwd* pw = ::getpwnam("nobody");
    if (pw == nullptr) _exit(121);
    if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) _exit(122);
  }
}

// Runs fn(say) in a forked child with `limits`; fn's return value is the
// child's exit code. An exception escaping fn exits 125 with its message.
inline ChildResult runChild(const ChildLimits& limits, const std::function<int(std::string& say)>& fn) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::close(p[0]);
    applyLimits(limits);
    std::string say;
    int code = 0;
    try {
      code = fn(say);
    } catch (const std::exception& e) {
      say += std::string("uncaught exception: ") + e.what();
      code = 125;
    }
    const char* d = say.data();
    std::size_t left = say.size();
    while (left > 0) {
      const ssize_t n = ::write(p[1], d, left);
      if (n <= 0) break;
      d += n;
      left -= static_cast<std::size_t>(n);
    }
    _exit(code);
  }
  ::close(p[1]);
  ChildResult r;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(p[0], buf, sizeof buf);
    if (n > 0) {
      r.said.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  ::close(p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// `nobody` may enter the directory and its parents (TempDir creates 0700
// directories on some systems): opens every level for traversal.
inline void letNobodyIn(const fs::path& dir) {
  for (fs::path p = dir; p.has_relative_path() && p != p.root_path(); p = p.parent_path()) {
    std::error_code ec;
    fs::permissions(p, fs::perms::others_exec | fs::perms::others_read, fs::perm_options::add, ec);
    if (p == fs::temp_directory_path()) break;
  }
}

// A tmpfs of `bytes` mounted on `at` for the object's life; ok() is false
// (and why() says why) where mounting is not permitted.
class TmpfsMount {
 public:
  TmpfsMount(const fs::path& at, std::uint64_t bytes) : at_(at) {
    fs::create_directories(at);
    const std::string opts = "size=" + std::to_string(bytes) + ",mode=0755";
    if (::mount("tmpfs", at.c_str(), "tmpfs", 0, opts.c_str()) == 0) {
      mounted_ = true;
    } else {
      why_ = std::string("mount -t tmpfs failed: ") + std::strerror(errno);
    }
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool ok() const noexcept { return mounted_; }
  const std::string& why() const noexcept { return why_; }

 private:
  fs::path at_;
  bool mounted_ = false;
  std::string why_;
};

// A process started with execv after applying `limits` in the child; its
// stdout and stderr go to files in `log_dir` (read with out()/err()).
class Spawned {
 public:
  Spawned(std::vector<std::string> args, const ChildLimits& limits, const fs::path& log_dir)
      : out_path_(log_dir / "stdout.txt"), err_path_(log_dir / "stderr.txt") {
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int o = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (o < 0 || e < 0) _exit(126);
      ::dup2(o, STDOUT_FILENO);
      ::dup2(e, STDERR_FILENO);
      applyLimits(limits);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Spawned() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Spawned(const Spawned&) = delete;
  Spawned& operator=(const Spawned&) = delete;

  // The exit code once it exited (128 + signal), or nullopt while running after `timeout`.
  std::optional<int> waitExit(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // The port of a node's "listening on http://127.0.0.1:PORT" line, waited for.
  std::optional<std::uint16_t> listeningPort(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string prefix = "listening on http://127.0.0.1:";
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string o = out();
      if (const auto at = o.find(prefix); at != std::string::npos && o.find('\n', at) != std::string::npos) {
        return static_cast<std::uint16_t>(std::stoi(o.substr(at + prefix.size())));
      }
      int status = 0;
      if (pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  std::string out() const { return slurp(out_path_); }
  std::string err() const { return slurp(err_path_); }

 private:
  static std::string slurp(const fs::path& p) {
    std::string s;
    const int fd = ::open(p.c_str(), O_RDONLY);
    if (fd < 0) return s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return s;
  }
  pid_t pid_ = -1;
  fs::path out_path_, err_path_;
};

}  // namespace plasma_rel
