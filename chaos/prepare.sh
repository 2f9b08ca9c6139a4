# Sourced by chaos/run.sh, chaos/compare.sh and chaos/scale.sh, from the repository's root:
#   chaos_prepare NAME PACKAGE... -- "$@"
# exits 2 unless run as root (network namespaces, veth, iptables); installs the network tools
# and libfaketime (scripts/setup-netns.sh); sets VENV to the tests' Python venv; sets ARGS to
# the script's arguments, with --bin-dir pointing at the release build of the PACKAGEs (built
# here) unless the arguments already name a --bin-dir.
chaos_prepare() {
  local name=$1; shift
  local packages=()
  while [ "$1" != "--" ]; do packages+=(-p "$1"); shift; done
  shift
  if [ "$(id -u)" != 0 ]; then
    echo "chaos/$name: needs root (network namespaces, veth, iptables)" >&2
    exit 2
  fi
  scripts/setup-netns.sh
  VENV=$(scripts/setup-python.sh)
  ARGS=("$@")
  case " $* " in
    *" --bin-dir "*) ;;
    *) cargo build --release "${packages[@]}" >&2
       ARGS=(--bin-dir "${CARGO_TARGET_DIR:-$PWD/target}/release" "$@") ;;
  esac
}
