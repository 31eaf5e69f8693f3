// engine/tree_reader.hpp — many point lookups in one LMDB tree at once.
//
// A query that walks an index fetches its rows one random lookup at a time,
// and each lookup is a chain of dependent cache and TLB misses (one per
// level and per binary-search step). LMDB's API runs lookups one after
// another, so those misses queue. This reader descends the tree for a whole
// batch of keys together, level by level, advancing every key's binary
// search one step per round and prefetching each key's next probe, so the
// misses of different keys overlap. Measured on a 1M-row table: 50 lookups
// ~3x faster than 50 mdb_cursor_get calls (bench/experiments/lmdb_batch_get.cpp).
//
// It reads LMDB 0.9's on-disk page format straight from the memory map,
// which is sound only for a *read* transaction: the pages of its snapshot
// are in the map and never change while it lives. (A write transaction's
// dirty pages are not in the map: callers use LMDB's own API there.)
//
// It trusts nothing it reads: every page number, page header, node offset
// and size is bounds-checked, and anything it does not expect (another
// LMDB version, a custom key order, dupsort or LEAF2 pages, a damaged
// page) makes it answer Unknown for that key, so the caller falls back to
// mdb_cursor_get and gets LMDB's own answer or error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <lmdb.h>

namespace plasma::detail {

// The environment-wide facts the reader needs; usable() is false when this
// LMDB is not a version whose page format the reader knows. Taken once when
// the database opens: the engine never resizes the map afterwards (a map
// grown later would only make pages past the old size Unknown, never read).
struct TreeGeometry {
  unsigned page_size = 0;
  std::uint64_t map_pages = 0;  // the memory map's size in pages: every valid page number is below
  bool usable() const noexcept { return page_size != 0; }
  static TreeGeometry of(MDB_env* env);
};

// One named database's B-tree as a read transaction sees it.
struct Tree {
  const std::uint8_t* map = nullptr;  // the memory map's first byte
  std::uint64_t root = 0;
  unsigned depth = 0;  // 0: empty
  TreeGeometry geometry;
};

// Finds the tree of the named database `name` in read transaction `txn`
// (`main` is the unnamed database's handle). std::nullopt when the layout
// is not one the reader handles; the caller then uses LMDB's API.
std::optional<Tree> findTree(MDB_txn* txn, MDB_dbi main, std::string_view name, const TreeGeometry& geometry);

struct TreeHit {
  enum State : std::uint8_t { Absent, Present, Unknown };
  State state = Unknown;
  std::string_view key;    // Present: the stored key (in the map)
  std::string_view value;  // Present: the stored value (in the map)
};

// Looks up every keys[i] into out[i] (out.size() >= keys.size()). Present
// values have their first cache lines prefetched.
void lookupMany(const Tree& tree, std::span<const std::string_view> keys, std::span<TreeHit> out);

// Visits a tree's entries in key order, reading leaf pages in place (no
// call into LMDB per entry). The same checks as lookupMany: on anything
// unexpected it answers Unknown (and keeps answering it), and the caller
// goes on with an LMDB cursor after the last key it was given.
class TreeCursor {
 public:
  explicit TreeCursor(const Tree& tree) noexcept : tree_(tree) {}
  enum Step : std::uint8_t { Entry, End, Unknown };
  // The next entry (the first on the first call) into *key / *value.
  Step next(std::string_view* key, std::string_view* value) noexcept;
  // Positions the walk so that next() gives the first entry whose key is
  // >= `key`. Call before the first next(); false (and Unknown from then
  // on) when a page on the way is not as expected.
  bool seek(std::string_view key) noexcept;

 private:
  static constexpr unsigned kMaxDepth = 32;
  struct Level {
    const std::uint8_t* page;
    int index, count;
  };
  // Enters the subtree of page number `pgno` at `level`, down to its first leaf.
  bool enter(std::uint64_t pgno, unsigned level) noexcept;
  Step fail() noexcept {
    state_ = Unknown;
    return Unknown;
  }

  Tree tree_;
  Level stack_[kMaxDepth];
  // Pages entered so far: a real tree has fewer than the map, a damaged
  // one whose branches point back into themselves would never end.
  std::uint64_t pages_entered_ = 0;
  enum : std::uint8_t { Fresh, Walking } phase_ = Fresh;
  Step state_ = Entry;  // End or Unknown once reached
};

}  // namespace plasma::detail
