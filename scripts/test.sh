#!/usr/bin/env bash
# The whole test suite: formatting, lints, supply-chain policy, then every test.
# It first installs what the tests need and is missing (`.ci/setup`: Debian packages
# such as distcc and bubblewrap, and cargo-deny), as root or through sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== test prerequisites (.ci/setup)"
if [ "$(id -u)" = 0 ]; then
  bash .ci/setup
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo bash .ci/setup
else
  echo "not root and no password-less sudo: run 'sudo .ci/setup' once if tests report missing tools"
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

echo "== cargo deny (licences, bans, sources)"
cargo deny --locked check licenses bans sources
echo "== cargo deny (advisories)"
# The RustSec database is fetched from GitHub; where that is unreachable, say so
# plainly rather than pretend the check passed.
if ! out=$(cargo deny --locked check advisories 2>&1); then
  if grep -q "failed to fetch advisory database" <<<"$out"; then
    echo "advisories NOT checked: the advisory database cannot be fetched from this machine"
  else
    echo "$out"
    exit 1
  fi
else
  echo "advisories ok"
fi

echo "== cargo test"
cargo test --locked --workspace
