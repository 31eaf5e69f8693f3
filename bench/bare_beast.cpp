// plasma-bare-beast: the smallest HTTP/1.1 server on the same stack as plasma-node
// (Boost.Asio with the same backend — io_uring or epoll, whatever plasma_net was configured
// with — and Boost.Beast), answering every request with one constant body. It is the ceiling
// for the node's HTTP routes in the wrk runs of `./plasma bench` (scripts/bench/run.sh).
//
//   plasma-bare-beast [--listen 127.0.0.1:0] [--threads N] [--body-bytes 64]
//
// Threads are laid out as in plasma::net::Server: one io_context per thread, the acceptor on
// the first, accepted sockets handed round-robin to the workers. Keep-alive, no timeouts, no
// routing, no parsing beyond Beast's; the response is one constant byte string. Prints `listening on http://HOST:PORT` once bound;
// SIGINT/SIGTERM stop it.
#include <charconv>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  unsigned threads = 0;
  std::size_t body_bytes = 64;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr << "plasma-bare-beast: " << why
            << "\nusage: plasma-bare-beast [--listen HOST:PORT] [--threads N] [--body-bytes N]\n";
  std::exit(2);
}

unsigned long parseNumber(const std::string& flag, const std::string& v, unsigned long max) {
  unsigned long n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n > max) {
    usage(flag + ": expected a number up to " + std::to_string(max) + ", got '" + v + "'");
  }
  return n;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string f = argv[i];
    if (f == "--help") usage("help");
    if (i + 1 >= argc) usage(f + ": missing value");
    const std::string v = argv[++i];
    if (f == "--listen") {
      const auto colon = v.rfind(':');
      if (colon == std::string::npos) usage("--listen: expected HOST:PORT");
      o.host = v.substr(0, colon);
      o.port = static_cast<unsigned short>(parseNumber(f, v.substr(colon + 1), 65535));
    } else if (f == "--threads") {
      o.threads = static_cast<unsigned>(parseNumber(f, v, 256));
    } else if (f == "--body-bytes") {
      o.body_bytes = parseNumber(f, v, 1 << 20);
    } else {
      usage("unknown flag " + f);
    }
  }
  return o;
}

// Beast's parser reads each request (as in the node); the answer is one prebuilt byte string
// written as is — the node also writes its response heads itself rather than through Beast's
// serializer, so this is the least work a request can cost on this stack.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::string& response) : stream_(std::move(socket)), response_(response) {}

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      const bool keep_alive = self->parser_->get().keep_alive();
      asio::async_write(self->stream_.socket(), asio::buffer(self->response_),
                        [self, keep_alive](beast::error_code wec, std::size_t) {
                          if (wec || !keep_alive) return self->close();
                          self->read();
                        });
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const std::string& response_;
};

struct Worker {
  asio::io_context ioc{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(ioc);
};

class Server {
 public:
  explicit Server(const Options& o) : body_(o.body_bytes, 'x') {
    // A JSON-shaped constant body of the requested size: {"x":"xxxx..."}.
    if (body_.size() >= 8) {
      body_.replace(0, 6, "{\"x\":\"");
      body_.replace(body_.size() - 2, 2, "\"}");
    }
    response_ = "HTTP/1.1 200 OK\r\nServer: bare-beast\r\nContent-Type: application/json\r\nContent-Length: " +
                std::to_string(body_.size()) + "\r\n\r\n" + body_;
    const unsigned n = o.threads != 0 ? o.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>());
    acceptor_ = std::make_unique<tcp::acceptor>(workers_.front()->ioc);
    const tcp::endpoint ep(asio::ip::make_address(o.host), o.port);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen(asio::socket_base::max_listen_connections);
    signals_ = std::make_unique<asio::signal_set>(workers_.front()->ioc, SIGINT, SIGTERM);
    signals_->async_wait([this](beast::error_code, int) { stop(); });
  }

  unsigned short port() const { return acceptor_->local_endpoint().port(); }

  void run() {
    accept();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < workers_.size(); ++i) threads.emplace_back([w = workers_[i].get()] { w->ioc.run(); });
    workers_.front()->ioc.run();
    for (auto& t : threads) t.join();
  }

 private:
  void accept() {
    Worker& target = *workers_[next_++ % workers_.size()];
    acceptor_->async_accept(target.ioc, [this, &target](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        // The socket already belongs to its worker's io_context: start it there.
        auto session = std::make_shared<Session>(std::move(socket), response_);
        asio::post(target.ioc, [session] { session->start(); });
      }
      accept();
    });
  }

  void stop() {
    beast::error_code ignored;
    acceptor_->close(ignored);
    for (auto& w : workers_) {
      w->work.reset();
      w->ioc.stop();
    }
  }

  std::string body_;
  std::string response_;  // status line, headers and body, built once
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::unique_ptr<asio::signal_set> signals_;
  std::size_t next_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  try {
    Server server(o);
    std::printf("listening on http://%s:%u\n", o.host.c_str(), static_cast<unsigned>(server.port()));
    std::fflush(stdout);
    server.run();
  } catch (const std::exception& e) {
    std::cerr << "plasma-bare-beast: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
