#!/usr/bin/env bash
# Runs each fuzz target of crates/fuzz (the XML-RPC parser, the INI loader, the rules parser,
# the internal port's frame decoder) for a bounded time, and fails when one finds a crash.
#   scripts/fuzz.sh            # 60 s per target
#   scripts/fuzz.sh 600        # 10 minutes per target
#   scripts/fuzz.sh 30 rules   # one target
# Built with libFuzzer's coverage instrumentation on the pinned stable toolchain (the flags
# cargo-fuzz passes, without its sanitizer, which needs nightly). Each target starts from the
# seeds in crates/fuzz/seeds/<target> and keeps what it finds in target/fuzz/corpus/<target>
# for the next run; a crashing input is written to target/fuzz/artifacts/<target>/ (rerun
# it with: target/fuzz/<host triple>/release/<target> <that file>).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
TARGETS=${*:-xmlrpc ini rules frames}
OUT=${CARGO_TARGET_DIR:-$PWD/target}/fuzz
export CARGO_TARGET_DIR=$OUT
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# An explicit --target keeps the instrumentation off build scripts and proc macros (they
# run on the host, without libFuzzer's runtime), as cargo-fuzz does.
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
BIN=$OUT/$TRIPLE/release
echo "fuzz: building ${TARGETS// /, } (instrumented)" >&2
# --locked: crates/fuzz/Cargo.lock pins what the targets are built with. A dependency added to
# a crate they use needs it updated once: cargo update --manifest-path crates/fuzz/Cargo.toml -w
# shellcheck disable=SC2086
cargo build --release --locked --target "$TRIPLE" --manifest-path crates/fuzz/Cargo.toml $(printf -- '--bin %s ' $TARGETS) >&2
failed=""
for t in $TARGETS; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
  echo "fuzz: $t for ${SECONDS_EACH}s" >&2
  if ! "$BIN/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$t/" \
      "$OUT/corpus/$t" "crates/fuzz/seeds/$t" > "$OUT/$t.log" 2>&1; then
    echo "fuzz: $t FOUND A CRASH (input in $OUT/artifacts/$t/); its end:" >&2
    tail -40 "$OUT/$t.log" >&2
    failed="$failed $t"
  else
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/$t.log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$OUT/$t.log" | tail -1 || true)
    echo "fuzz: $t ok: $runs inputs, $cov, no crash" >&2
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz: crashes in:$failed" >&2
  exit 1
fi
