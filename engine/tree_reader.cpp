// engine/tree_reader.cpp — see tree_reader.hpp.
//
// LMDB 0.9's page format on 64-bit machines, as far as this reader uses it:
//   page header (16 bytes): page number (8), pad (2), flags (2), then either
//     lower/upper free-space bounds (2 + 2) or, for overflow pages, their
//     count (4); after the header, `lower - 16` bytes of 2-byte node offsets.
//   node (8-byte header): lo (2), hi (2), flags (2), key size (2), key, data.
//     A branch node's child page number is lo | hi << 16 | flags << 32; a
//     leaf node's data size is lo | hi << 16, and with F_BIGDATA the data is
//     the page number of an overflow page holding the value after its header.
//   a named database's record (48 bytes, the value under its name in the
//     unnamed database): pad (4), flags (2), depth (2), page counts and
//     entries (4 x 8), root page number (8).
// A branch page's first key is empty (it stands for "everything below the
// second key"), so its binary search starts at the second node.
#include "engine/tree_reader.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace plasma::detail {

namespace {

constexpr unsigned kPageHeader = 16;
constexpr unsigned kNodeHeader = 8;
constexpr std::size_t kDbRecordSize = 48;
constexpr unsigned kMaxDepth = 32;  // LMDB's cursor stack
constexpr std::uint64_t kFirstDataPage = 2;  // pages 0 and 1 are the meta pages

constexpr std::uint16_t kBranch = 0x01, kLeaf = 0x02, kOverflow = 0x04, kMeta = 0x08, kLeaf2 = 0x20, kSubPage = 0x40;
constexpr std::uint16_t kPageKinds = kBranch | kLeaf | kOverflow | kMeta | kLeaf2 | kSubPage;
constexpr std::uint16_t kBigData = 0x01;
// Database flags stored in its record that change the key order or layout:
// REVERSEKEY, DUPSORT, INTEGERKEY, DUPFIXED, INTEGERDUP, REVERSEDUP.
constexpr std::uint16_t kUnhandledDbFlags = 0x02 | 0x04 | 0x08 | 0x10 | 0x20 | 0x40;

constexpr std::size_t kChunk = 64;

template <class T>
T load(const std::uint8_t* p) noexcept {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

struct Walker {
  const Tree& t;

  const std::uint8_t* page(std::uint64_t pgno) const noexcept {
    if (pgno < kFirstDataPage || pgno >= t.geometry.map_pages) return nullptr;
    return t.map + pgno * t.geometry.page_size;
  }
  // The number of nodes of `p` when it is a page of `kind`; -1 otherwise.
  int nodes(const std::uint8_t* p, std::uint16_t kind) const noexcept {
    if ((load<std::uint16_t>(p + 10) & kPageKinds) != kind) return -1;
    const unsigned lower = load<std::uint16_t>(p + 12), upper = load<std::uint16_t>(p + 14);
    if (lower < kPageHeader || lower > upper || upper > t.geometry.page_size) return -1;
    return static_cast<int>((lower - kPageHeader) / 2);
  }
  // Node `i` of `p`, whose header and key lie inside the page; null otherwise.
  const std::uint8_t* node(const std::uint8_t* p, int i) const noexcept {
    const unsigned off = load<std::uint16_t>(p + kPageHeader + 2 * static_cast<unsigned>(i));
    if (off < kPageHeader || off + kNodeHeader > t.geometry.page_size) return nullptr;
    const std::uint8_t* n = p + off;
    if (off + kNodeHeader + load<std::uint16_t>(n + 6) > t.geometry.page_size) return nullptr;
    return n;
  }
  // Node `i`'s offset, prefetched before it is read (no checks: a prefetch
  // of a wild address is harmless, and node() checks before reading).
  static void prefetchNode(const std::uint8_t* p, int i) noexcept {
    __builtin_prefetch(p + load<std::uint16_t>(p + kPageHeader + 2 * static_cast<unsigned>(i)));
  }
  static std::string_view key(const std::uint8_t* n) noexcept {
    return {reinterpret_cast<const char*>(n + kNodeHeader), load<std::uint16_t>(n + 6)};
  }
  // A branch node's child page number.
  static std::uint64_t child(const std::uint8_t* n) noexcept {
    return std::uint64_t{load<std::uint16_t>(n)} | (std::uint64_t{load<std::uint16_t>(n + 2)} << 16) |
           (std::uint64_t{load<std::uint16_t>(n + 4)} << 32);
  }
  // Leaf node `n` of page `p`: its value, in the page or in its overflow
  // pages, when it is a plain value lying inside the map; false otherwise
  // (a sub-database, duplicates, or bounds that do not hold).
  bool value(const std::uint8_t* p, const std::uint8_t* n, std::string_view* out) const noexcept {
    const unsigned ksize = load<std::uint16_t>(n + 6);
    const std::uint16_t flags = load<std::uint16_t>(n + 4);
    const std::size_t size = std::size_t{load<std::uint16_t>(n)} | (std::size_t{load<std::uint16_t>(n + 2)} << 16);
    const std::uint8_t* data = n + kNodeHeader + ksize;
    const std::size_t in_page = static_cast<std::size_t>(n - p) + kNodeHeader + ksize;
    if (flags == kBigData) {
      if (in_page + 8 > t.geometry.page_size) return false;
      const std::uint64_t pgno = load<std::uint64_t>(data);
      const std::uint8_t* big = page(pgno);
      if (big == nullptr || (load<std::uint16_t>(big + 10) & kPageKinds) != kOverflow) return false;
      const std::uint64_t pages = load<std::uint32_t>(big + 12);
      if (kPageHeader + size > pages * t.geometry.page_size || pgno + pages > t.geometry.map_pages) return false;
      data = big + kPageHeader;
    } else if (flags != 0 || in_page + size > t.geometry.page_size) {
      return false;
    }
    *out = {reinterpret_cast<const char*>(data), size};
    return true;
  }
};

struct Probe {
  const std::uint8_t* page;
  const std::uint8_t* hit;  // leaf: the matching node
  int lo, hi, ans;
  bool bad;
};

void lookupChunk(const Tree& t, const std::string_view* keys, TreeHit* out, std::size_t count) {
  const Walker w{t};
  std::array<Probe, kChunk> st;
  const std::uint8_t* root = w.page(t.root);
  for (std::size_t k = 0; k < count; ++k) st[k] = Probe{root, nullptr, 0, -1, -1, root == nullptr};

  for (unsigned level = 0; level < t.depth; ++level) {
    const bool leaf = level + 1 == t.depth;
    bool active = false;
    for (std::size_t k = 0; k < count; ++k) {
      Probe& s = st[k];
      if (s.bad) continue;
      const int n = w.nodes(s.page, leaf ? kLeaf : kBranch);
      if (n < 0 || (!leaf && n == 0)) {
        s.bad = true;
        continue;
      }
      // Branch: the greatest node whose key <= the key (node 0 stands for
      // everything below node 1). Leaf: the node equal to the key.
      s.lo = leaf ? 0 : 1;
      s.hi = n - 1;
      s.ans = leaf ? -1 : 0;
      if (s.lo <= s.hi) {
        Walker::prefetchNode(s.page, (s.lo + s.hi) / 2);
        active = true;
      }
    }
    // One binary-search step of every key per round.
    while (active) {
      active = false;
      for (std::size_t k = 0; k < count; ++k) {
        Probe& s = st[k];
        if (s.bad || s.lo > s.hi) continue;
        const int mid = (s.lo + s.hi) / 2;
        const std::uint8_t* n = w.node(s.page, mid);
        if (n == nullptr) {
          s.bad = true;
          continue;
        }
        const int c = Walker::key(n).compare(keys[k]);
        if (leaf && c == 0) {
          s.ans = mid;
          s.hit = n;
          s.lo = s.hi + 1;
          continue;
        }
        if (c < 0 || (!leaf && c == 0)) {
          if (!leaf) s.ans = mid;
          s.lo = mid + 1;
        } else {
          s.hi = mid - 1;
        }
        if (s.lo <= s.hi) {
          Walker::prefetchNode(s.page, (s.lo + s.hi) / 2);
          active = true;
        }
      }
    }
    if (leaf) break;
    for (std::size_t k = 0; k < count; ++k) {
      Probe& s = st[k];
      if (s.bad) continue;
      const std::uint8_t* n = w.node(s.page, s.ans);
      if (n == nullptr) {
        s.bad = true;
        continue;
      }
      s.page = w.page(Walker::child(n));
      if (s.page == nullptr) {
        s.bad = true;
        continue;
      }
      __builtin_prefetch(s.page);
      __builtin_prefetch(s.page + 64);
    }
  }

  for (std::size_t k = 0; k < count; ++k) {
    const Probe& s = st[k];
    TreeHit& h = out[k];
    h = TreeHit{};
    if (s.bad) continue;  // Unknown
    if (s.hit == nullptr) {
      h.state = TreeHit::Absent;
      continue;
    }
    if (!w.value(s.page, s.hit, &h.value)) continue;  // Unknown
    h.state = TreeHit::Present;
    h.key = Walker::key(s.hit);
    // A row spans a few cache lines, read with dependent loads: start them all.
    __builtin_prefetch(h.value.data());
    __builtin_prefetch(h.value.data() + 64);
    __builtin_prefetch(h.value.data() + 128);
  }
}

}  // namespace

TreeGeometry TreeGeometry::of(MDB_env* env) {
  TreeGeometry g;
  if constexpr (MDB_VERSION_MAJOR != 0 || MDB_VERSION_MINOR != 9 || sizeof(void*) != 8 || sizeof(std::size_t) != 8) {
    return g;
  }
  int major = 0, minor = 0, patch = 0;
  mdb_version(&major, &minor, &patch);
  if (major != 0 || minor != 9) return g;
  MDB_stat st;
  MDB_envinfo info;
  if (mdb_env_stat(env, &st) != MDB_SUCCESS || mdb_env_info(env, &info) != MDB_SUCCESS) return g;
  // A page's own address gives the map's base only when pages are aligned
  // to their size, i.e. when LMDB's page size is the system's.
  const long system_page = ::sysconf(_SC_PAGESIZE);
  if (system_page <= 0 || st.ms_psize != static_cast<unsigned long>(system_page)) return g;
  g.page_size = st.ms_psize;
  g.map_pages = info.me_mapsize / st.ms_psize;
  return g;
}

std::optional<Tree> findTree(MDB_txn* txn, MDB_dbi main, std::string_view name, const TreeGeometry& geometry) {
  if (!geometry.usable()) return std::nullopt;
  MDB_val k{name.size(), const_cast<char*>(name.data())};
  MDB_val v;
  if (mdb_get(txn, main, &k, &v) != MDB_SUCCESS || v.mv_size != kDbRecordSize) return std::nullopt;
  const auto* rec = static_cast<const std::uint8_t*>(v.mv_data);
  if ((load<std::uint16_t>(rec + 4) & kUnhandledDbFlags) != 0) return std::nullopt;
  // The record lies in a leaf page of the map, whose header holds its page
  // number: that gives the map's base.
  const auto* page =
      reinterpret_cast<const std::uint8_t*>(reinterpret_cast<std::uintptr_t>(rec) & ~std::uintptr_t{geometry.page_size - 1});
  const std::uint64_t pgno = load<std::uint64_t>(page);
  if (pgno >= geometry.map_pages || (load<std::uint16_t>(page + 10) & kPageKinds) != kLeaf) return std::nullopt;
  Tree t;
  t.geometry = geometry;
  t.map = page - pgno * geometry.page_size;
  t.depth = load<std::uint16_t>(rec + 6);
  t.root = load<std::uint64_t>(rec + 40);
  if (t.depth == 0) return t;  // empty
  if (t.depth > kMaxDepth || t.root < kFirstDataPage || t.root >= geometry.map_pages) return std::nullopt;
  return t;
}

bool TreeCursor::enter(std::uint64_t pgno, unsigned level) noexcept {
  const Walker w{tree_};
  for (; level < tree_.depth; ++level) {
    const bool leaf = level + 1 == tree_.depth;
    const std::uint8_t* p = w.page(pgno);
    if (p == nullptr || ++pages_entered_ > tree_.geometry.map_pages) return false;
    const int n = w.nodes(p, leaf ? kLeaf : kBranch);
    if (n <= 0) return false;  // only an empty tree's root leaf has no nodes
    stack_[level] = Level{p, 0, n};
    if (leaf) {
      // The rows of this leaf are read next: start their misses now.
      for (int i = 0; i < n && i < 8; ++i) Walker::prefetchNode(p, i);
      return true;
    }
    const std::uint8_t* first = w.node(p, 0);
    if (first == nullptr) return false;
    pgno = Walker::child(first);
  }
  return false;
}

bool TreeCursor::seek(std::string_view key) noexcept {
  if (state_ != Entry || phase_ != Fresh) return false;
  phase_ = Walking;
  if (tree_.depth == 0) {
    state_ = End;
    return true;
  }
  if (tree_.depth > kMaxDepth) return fail(), false;
  const Walker w{tree_};
  std::uint64_t pgno = tree_.root;
  for (unsigned level = 0; level < tree_.depth; ++level) {
    const bool leaf = level + 1 == tree_.depth;
    const std::uint8_t* p = w.page(pgno);
    if (p == nullptr || ++pages_entered_ > tree_.geometry.map_pages) return fail(), false;
    const int n = w.nodes(p, leaf ? kLeaf : kBranch);
    if (n <= 0) return fail(), false;
    // Branch: the greatest node whose key <= key (node 0 stands for
    // everything below node 1). Leaf: the first node whose key >= key.
    int lo = leaf ? 0 : 1, hi = n - 1, ans = leaf ? n : 0;
    while (lo <= hi) {
      const int mid = (lo + hi) / 2;
      const std::uint8_t* node = w.node(p, mid);
      if (node == nullptr) return fail(), false;
      const int c = Walker::key(node).compare(key);
      if (leaf) {
        if (c >= 0) {
          ans = mid;
          hi = mid - 1;
        } else {
          lo = mid + 1;
        }
      } else if (c <= 0) {
        ans = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    stack_[level] = Level{p, ans, n};
    if (leaf) break;
    const std::uint8_t* node = w.node(p, ans);
    if (node == nullptr) return fail(), false;
    pgno = Walker::child(node);
  }
  return true;
}

TreeCursor::Step TreeCursor::next(std::string_view* key, std::string_view* value) noexcept {
  if (state_ != Entry) return state_;
  const Walker w{tree_};
  const unsigned leaf = tree_.depth - 1;
  if (phase_ == Fresh) {
    phase_ = Walking;
    if (tree_.depth == 0) {
      state_ = End;
      return End;
    }
    if (tree_.depth > kMaxDepth || !enter(tree_.root, 0)) return fail();
  }
  if (stack_[leaf].index == stack_[leaf].count) {
    // Climb to the nearest branch with a next child, then down its left edge.
    unsigned level = leaf;
    while (level > 0 && stack_[level - 1].index + 1 >= stack_[level - 1].count) --level;
    if (level == 0) {
      state_ = End;
      return End;
    }
    Level& parent = stack_[level - 1];
    const std::uint8_t* n = w.node(parent.page, ++parent.index);
    if (n == nullptr) return fail();
    if (!enter(Walker::child(n), level)) return fail();
  }
  Level& l = stack_[leaf];
  const std::uint8_t* n = w.node(l.page, l.index);
  if (n == nullptr || !w.value(l.page, n, value)) return fail();
  if (l.index + 8 < l.count) Walker::prefetchNode(l.page, l.index + 8);
  ++l.index;
  *key = Walker::key(n);
  return Entry;
}

void lookupMany(const Tree& tree, std::span<const std::string_view> keys, std::span<TreeHit> out) {
  for (std::size_t i = 0; i < keys.size(); i += kChunk) {
    const std::size_t n = std::min(kChunk, keys.size() - i);
    if (tree.depth == 0) {
      for (std::size_t k = 0; k < n; ++k) out[i + k] = TreeHit{TreeHit::Absent, {}, {}};
      continue;
    }
    lookupChunk(tree, keys.data() + i, out.data() + i, n);
  }
}

}  // namespace plasma::detail
