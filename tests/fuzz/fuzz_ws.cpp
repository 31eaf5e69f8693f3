// fuzz_ws: WebSocket frames from a client to the real node. Each input
// opens a socket on the node's realtime path (a valid upgrade, so the
// frames reach Beast's frame parser and the realtime layer's message
// handling), sends the input as raw frame bytes (client frames must be
// masked; the seeds are), then closes its side. The node must close the
// socket (or answer), never crash or hang.
#include <cstddef>
#include <cstdint>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_node_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool debug = std::getenv("FUZZ_WS_DEBUG") != nullptr;
  plasma_fuzz::requireAnswer([&] {
    const auto t0 = std::chrono::steady_clock::now();
    plasma_fuzz::Conn c;
    const bool sent = c.send(
        "GET /sync/ws?clientGroupID=fg&clientID=fc&room=r1&user=fuzzer HTTP/1.1\r\n"
        "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    std::string got;
    if (!sent || !c.readUntil("\r\n\r\n", got)) {
      if (c.silent()) return false;
      std::fprintf(stderr, "fuzz: the WebSocket upgrade was not answered:\n%s\n", got.c_str());
      std::abort();
    }
    if (got.rfind("HTTP/1.1 101", 0) != 0) {
      std::fprintf(stderr, "fuzz: the WebSocket upgrade was refused:\n%s\n", got.c_str());
      std::abort();
    }
    const auto t1 = std::chrono::steady_clock::now();
    if (c.send(std::string_view(reinterpret_cast<const char*>(data), size))) c.finishSending();
    c.readUntil("", got);
    if (debug) {
      const auto t2 = std::chrono::steady_clock::now();
      using ms = std::chrono::duration<double, std::milli>;
      std::fprintf(stderr, "upgrade %.1f ms, frames to close %.1f ms\n", ms(t1 - t0).count(), ms(t2 - t1).count());
    }
    return !c.silent();
  });
  return 0;
}
