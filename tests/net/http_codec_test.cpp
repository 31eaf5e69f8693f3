// tests/net/http_codec_test.cpp — the transport-free helpers: target decoding, JSON error
// bodies, response heads.
#include <catch2/catch.hpp>

#include "net/http_codec.hpp"

using namespace plasma::net;
using namespace plasma::net::detail;

TEST_CASE("percentDecode keeps invalid escapes and only maps '+' in queries", "[net]") {
  CHECK(percentDecode("a%20b%2fc", false) == "a b/c");
  CHECK(percentDecode("a+b", false) == "a+b");
  CHECK(percentDecode("a+b", true) == "a b");
  CHECK(percentDecode("100%", false) == "100%");
  CHECK(percentDecode("%zz%4", false) == "%zz%4");
  CHECK(percentDecode("%C3%A9", false) == "\xC3\xA9");
}

TEST_CASE("decodeTarget splits path and query", "[net]") {
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  decodeTarget("/p?a=1&&b&c=x%3Dy#frag", path, query);
  CHECK(path == "/p");
  REQUIRE(query.size() == 3);
  CHECK(query[1] == std::pair<std::string, std::string>{"b", ""});
  CHECK(query[2] == std::pair<std::string, std::string>{"c", "x=y"});
  decodeTarget("/only", path, query);
  CHECK(path == "/only");
  CHECK(query.empty());
}

TEST_CASE("jsonError escapes its strings", "[net]") {
  CHECK(jsonError("BadRequest", "bad \"x\"\n\\") == R"({"error":"BadRequest","message":"bad \"x\"\n\\"})");
  CHECK(jsonError("K", std::string("\x01", 1)) == R"({"error":"K","message":"\u0001"})");
}

TEST_CASE("writeResponseHead: length, connection, extra headers", "[net]") {
  std::string head;
  HttpResponse r{.status = 404, .content_type = "text/plain", .body = "nope", .headers = {{"X-A", "1"}}};
  CHECK(writeResponseHead(head, r, {}));
  CHECK(head == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nX-A: 1\r\n\r\n");
  r.headers = {{"Connection", "close"}, {"Content-Length", "99"}};
  CHECK_FALSE(writeResponseHead(head, r, {}));
  CHECK(head == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\n");
  HttpResponse empty{.status = 204, .body = ""};
  CHECK(writeResponseHead(head, empty, {.keep_alive = true, .http10 = true}));
  CHECK(head == "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
  CHECK_FALSE(headerFieldOk("X", "a\r\nInjected: 1"));
  CHECK(headerFieldOk("X-Ok", "fine value"));
}
