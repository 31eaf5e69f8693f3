// fuzz_http: raw bytes from a client to the real node's HTTP port (one or
// more pipelined requests: push, pull, GET pull, /metrics, anything else).
// The node must answer or close, never crash, hang or corrupt its store;
// after each input it still serves a pull.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_node_common.hpp"

namespace {

// A well-formed pull must still get a 200 with a cookie: the node and its
// store survived whatever came before.
void nodeStillServes() {
  std::string got;
  plasma_fuzz::requireAnswer([&] {
    plasma_fuzz::Conn c;
    const std::string body =
        R"({"profileID":"p","clientGroupID":"fuzz-check","cookie":null,"pullVersion":1,"schemaVersion":"todos-v2"})";
    c.send("POST /sync/pull HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-User: checker\r\n"
           "Connection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
    got.clear();
    c.readUntil("", got);
    return !c.silent();
  });
  // A fuzz input may have claimed the group for another user first: then
  // the answer is a 401 saying so, which reads the store just the same.
  const bool pulled = got.rfind("HTTP/1.1 200", 0) == 0 && got.find("\"cookie\"") != std::string::npos;
  const bool claimed = got.rfind("HTTP/1.1 401", 0) == 0 && got.find("belongs to another user") != std::string::npos;
  if (!pulled && !claimed) {
    std::fprintf(stderr, "fuzz: the node no longer serves a pull:\n%s\n", got.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static unsigned long runs = 0;
  plasma_fuzz::requireAnswer([&] {
    plasma_fuzz::Conn c;
    if (c.send(std::string_view(reinterpret_cast<const char*>(data), size))) c.finishSending();
    std::string got;
    c.readUntil("", got);
    return !c.silent();
  });
  if (++runs % 256 == 1) nodeStillServes();
  return 0;
}
