// net/beast_src.cpp — Boost.Beast's implementation, compiled once (BOOST_BEAST_SEPARATE_COMPILATION).
#include <boost/beast/src.hpp>
