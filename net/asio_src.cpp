// net/asio_src.cpp — Boost.Asio's implementation, compiled once for the whole program
// (BOOST_ASIO_SEPARATE_COMPILATION, a PUBLIC definition of plasma_net together with the io_uring
// switches, so every translation unit sees the same configuration).
#include <boost/asio/impl/src.hpp>
