#!/usr/bin/env bash
# scripts/tsan.sh [ctest args] — the ThreadSanitizer pass: builds build-tsan/
# (Debug, -fsanitize=thread) and runs the tests that start threads (tags
# [sync] [node] [net] [client] [savepoint] [reliability] [live]: the group-commit
# writer, the I/O threads, the node, the clients, the live-query thread). Given ctest arguments
# (e.g. -R changelog) it runs those instead. Any report fails the run
# (TSAN_OPTIONS halt_on_error=1 unless set).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec bash ./plasma test --tsan "$@"
