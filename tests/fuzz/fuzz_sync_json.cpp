// fuzz_sync_json: every JSON decoder of the sync protocol (server side:
// push/pull requests; client side: push/pull responses, error bodies, pokes,
// presence). The first byte picks the decoder, the rest is the body.
// Contract (sync/codec.hpp): a decoder returns or throws SyncError, nothing
// else; whatever it accepts re-encodes and decodes again, without an error,
// to the same thing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "sync/codec.hpp"

using namespace plasma::sync;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void roundTripPush(Encoding e, const PushRequest& p) {
  const PushRequest q = decodePush(e, encodePushRequest(e, p));
  check(q.client_group_id == p.client_group_id && q.profile_id == p.profile_id &&
        q.schema_version == p.schema_version && q.mutations.size() == p.mutations.size());
  for (std::size_t i = 0; i < p.mutations.size(); ++i) {
    check(q.mutations[i].client_id == p.mutations[i].client_id && q.mutations[i].id == p.mutations[i].id &&
          q.mutations[i].name == p.mutations[i].name && q.mutations[i].args == p.mutations[i].args);
  }
}

void roundTripPull(Encoding e, const PullRequest& p) {
  const PullRequest q = decodePull(e, encodePullRequest(e, p));
  check(q.client_group_id == p.client_group_id && q.profile_id == p.profile_id &&
        q.schema_version == p.schema_version && q.cookie == p.cookie);
}

}  // namespace

// Shared with fuzz_sync_fbs.cpp through the macro below.
#ifndef PLASMA_FUZZ_ENCODING
#define PLASMA_FUZZ_ENCODING Encoding::Json
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Encoding e = PLASMA_FUZZ_ENCODING;
  const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  // Decoding may refuse the input with SyncError. What it accepts must then re-encode and
  // decode again without any error (outside the try: an exception there is a finding).
  std::optional<PushRequest> push;
  std::optional<PullRequest> pull;
  std::optional<Poke> poke;
  try {
    switch (data[0] % 7) {
      case 0: push = decodePush(e, body); break;
      case 1: pull = decodePull(e, body); break;
      case 2: (void)decodePushResponse(e, body); break;
      case 3: (void)decodePullResponse(e, body); break;
      case 4: poke = decodePoke(e, body); break;
      case 5: (void)decodePresence(e, body); break;
      case 6: throwErrorJson(body);
    }
  } catch (const SyncError&) {
    return 0;  // the documented way to refuse input
  }
  if (push) roundTripPush(e, *push);
  if (pull) roundTripPull(e, *pull);
  if (poke) {
    const Poke q = decodePoke(e, encodePoke(e, *poke));
    check(poke->room == q.room && poke->version == q.version);
  }
  return 0;
}
