// fuzz_sync_fbs: the same decoders as fuzz_sync_json, FlatBuffers encoding
// (the first byte picks the decoder; 6 parses a JSON error body).
#define PLASMA_FUZZ_ENCODING Encoding::FlatBuffers
#include "fuzz_sync_json.cpp"
