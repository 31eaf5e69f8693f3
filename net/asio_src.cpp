// net/asio_src.cpp — Boost.Asio's implementation, compiled once for the whole program
// (BOOST_ASIO_SEPARATE_COMPILATION, a PUBLIC definition of plasma_net together with the io_uring
// switches, so every translation unit sees the same configuration).

#if defined(BOOST_ASIO_HAS_IO_URING)
// A fix for Asio 1.26 (Boost 1.81)'s io_uring backend. It submits its cancel and timeout-remove
// requests without setting their user_data, and liburing leaves a submission entry's user_data as
// the previous request in that ring slot set it. The kernel then answers those requests with the
// stale pointer, and Asio hands the answer (-ENOENT, -EALREADY or 0) to whatever operation queue it
// names — typically an acceptor: its accept "fails" with ENOENT, or "succeeds" as fd 0, while the
// connection the kernel really accepted is never served. (Fixed upstream in Asio 1.27 / Boost 1.82.)
//
// Every io_uring_get_sqe() in Asio's implementation is in io_uring_service.ipp, which is compiled
// here and nowhere else, so this translation unit routes them through one that clears user_data.
// Asio skips completions whose user_data is null. Requests that name their own user_data set it
// after this call, as before. tests/net/asio_backend_test.cpp fails without this.
#include <liburing.h>

inline ::io_uring_sqe* plasma_io_uring_get_sqe_cleared(::io_uring* ring) {
  ::io_uring_sqe* sqe = ::io_uring_get_sqe(ring);
  if (sqe) ::io_uring_sqe_set_data(sqe, nullptr);
  return sqe;
}
#define io_uring_get_sqe plasma_io_uring_get_sqe_cleared
#endif

#include "net/http_codec.hpp"

namespace plasma::net::detail {
namespace {
thread_local unsigned ring_entries = 0;  // 0: Asio's own ring size
}
RingEntriesScope::RingEntriesScope(unsigned entries) noexcept : previous_(ring_entries) { ring_entries = entries; }
RingEntriesScope::~RingEntriesScope() { restore(); }
void RingEntriesScope::restore() noexcept {
  if (!restored_) ring_entries = previous_;
  restored_ = true;
}
}  // namespace plasma::net::detail

#if defined(BOOST_ASIO_HAS_IO_URING)
// Asio sizes every ring with a compile-time 16,384; RingEntriesScope (net/http_codec.hpp) lets a
// thread ask for less. io_uring_queue_init is called only from io_uring_service.ipp, below.
inline int plasma_io_uring_queue_init(unsigned entries, ::io_uring* ring, unsigned flags) {
  if (const unsigned n = plasma::net::detail::ring_entries) entries = n;
  return ::io_uring_queue_init(entries, ring, flags);
}
#define io_uring_queue_init plasma_io_uring_queue_init
#endif

#include <boost/asio/impl/src.hpp>
