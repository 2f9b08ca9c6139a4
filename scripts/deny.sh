#!/usr/bin/env bash
# cargo-deny over the workspace's dependencies, by the policy of deny.toml: known
# vulnerabilities (the RustSec advisory database), licenses, sources, duplicates. Run by
# scripts/test.sh, so by CI; exits non-zero when a check fails.
#   scripts/deny.sh                      # builds cargo-deny if needed, then checks
#   scripts/deny.sh --refresh-snapshot   # also rewrites scripts/deny/ from github.com
# cargo-deny comes from crates.io (pinned, --locked) into target/tools and is reused after; a
# debug build (1.5 min here instead of 3.5, and a check takes 4 s either way). The advisory
# database is a fresh clone of github.com/rustsec/advisory-db when github.com answers, else the
# snapshot in scripts/deny/ (this workplace reaches crates.io but not GitHub): its date is
# printed, with a warning once it is more than 90 days old.
set -euo pipefail
cd "$(dirname "$0")/.."
DENY_VERSION=0.20.2
TOOLS="$PWD/target/tools"
REFRESH=false
[ "${1:-}" = "--refresh-snapshot" ] && REFRESH=true

if ! [ -x "$TOOLS/bin/cargo-deny" ] \
   || ! "$TOOLS/bin/cargo-deny" --version | grep -qx "cargo-deny $DENY_VERSION"; then
  echo "deny.sh: building cargo-deny $DENY_VERSION into $TOOLS" >&2
  cargo install cargo-deny --version "=$DENY_VERSION" --locked --debug --root "$TOOLS" >&2
fi

# Where cargo-deny looks for the database of deny.toml's db-urls entry under its db-path (the
# directory name is its hash of that URL).
DB="target/advisory-dbs/advisory-db-3157b0e258782691"
SNAPSHOT=scripts/deny/advisory-db.tar.xz
INFO=scripts/deny/advisory-db.txt
rm -rf "$DB" "$DB.tmp"
mkdir -p "$(dirname "$DB")"
if timeout 30 git clone -q --depth 1 https://github.com/rustsec/advisory-db "$DB.tmp" 2>/dev/null; then
  mv "$DB.tmp" "$DB"
  echo "deny.sh: advisory database: github.com/rustsec/advisory-db at $(git -C "$DB" rev-parse --short HEAD), $(git -C "$DB" show -s --format=%cI HEAD)" >&2
  if $REFRESH; then
    git -C "$DB" archive --prefix=advisory-db/ HEAD crates rust LICENSE.txt | xz -9e > "$SNAPSHOT"
    sed -i -e "s/^commit = .*/commit = $(git -C "$DB" rev-parse HEAD)/" \
           -e "s/^date = .*/date = $(git -C "$DB" show -s --format=%cI HEAD)/" "$INFO"
    echo "deny.sh: $SNAPSHOT and $INFO refreshed" >&2
  fi
else
  rm -rf "$DB.tmp"
  if $REFRESH; then
    echo "deny.sh: github.com cannot be reached: the snapshot cannot be refreshed here" >&2
    exit 1
  fi
  date=$(sed -n 's/^date = //p' "$INFO")
  commit=$(sed -n 's/^commit = //p' "$INFO")
  mkdir -p "$DB.tmp"
  tar -xJf "$SNAPSHOT" -C "$DB.tmp"
  mv "$DB.tmp/advisory-db" "$DB"
  rm -rf "$DB.tmp"
  # cargo-deny reads the database from a git repository.
  git -C "$DB" init -q
  git -C "$DB" add -A
  GIT_AUTHOR_DATE="$date" GIT_COMMITTER_DATE="$date" git -C "$DB" \
    -c user.name=raftvisor -c user.email=raftvisor@localhost \
    commit -q -m "rustsec/advisory-db at $commit"
  age=$(( ($(date +%s) - $(date -d "$date" +%s)) / 86400 ))
  echo "deny.sh: github.com cannot be reached: advisory database from the snapshot of $date ($age days old, $SNAPSHOT)" >&2
  if [ "$age" -gt 90 ]; then
    echo "deny.sh: WARNING: the snapshot is $age days old; refresh it where github.com answers: scripts/deny.sh --refresh-snapshot" >&2
  fi
fi

# --offline: the database is the one just prepared; the crates' manifests must be local.
cargo fetch --locked -q
PATH="$TOOLS/bin:$PATH" cargo deny --offline check
