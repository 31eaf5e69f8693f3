// newId(): UUIDv7 strings that sort by creation time.
#include <set>
#include <string>
#include <thread>

#include "test_util.hpp"

TEST_CASE("newId makes unique, time-ordered UUIDv7 strings", "[engine][ids]") {
  std::string prev;
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = plasma::newId();
    REQUIRE(id.size() == 36);
    for (std::size_t p : {8u, 13u, 18u, 23u}) REQUIRE(id[p] == '-');
    REQUIRE(id[14] == '7');                                          // version 7
    REQUIRE(std::string("89ab").find(id[19]) != std::string::npos);  // variant 10
    for (std::size_t p = 0; p < id.size(); ++p) {
      if (p == 8 || p == 13 || p == 18 || p == 23) continue;
      REQUIRE(std::string("0123456789abcdef").find(id[p]) != std::string::npos);
    }
    REQUIRE(id > prev);  // monotonic within the process, also within one millisecond
    prev = id;
    seen.insert(id);
  }
  CHECK(seen.size() == 20000);
  const std::string before = plasma::newId();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  const std::string after = plasma::newId();
  CHECK(before.substr(0, 13) < after.substr(0, 13));  // the millisecond prefix moved
}
