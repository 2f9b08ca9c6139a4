#!/usr/bin/env bash
# Makes sure tests/test_netns.py and chaos/ can build their hosts (and, below, that the loopback has IPv6): it
# needs root (network namespaces, veth, a bridge) and `ip` from iproute2, which a minimal CI
# image may lack (installed here with apt-get when missing). Not being root is not fixed here: the test then fails and says why.
# Idempotent. iptables: chaos/ drops packets with it (partitions, one direction, random loss).
# libfaketime: chaos/ steps one host's wall clock with it (its daemon alone; the machine's
# clock is not touched). openssl: tests/test_tls.py makes its test CA and certificates with it.
set -euo pipefail
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || missing+=(libfaketime)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "setup-netns: ${missing[*]} missing and cannot be installed here" >&2
  fi
fi
# tests/test_cluster.py also runs a cluster on ::1: make sure the loopback has IPv6 (a host
# may boot with it disabled); as root this is one sysctl, otherwise the test fails and says so.
if [ -w /proc/sys/net/ipv6/conf/lo/disable_ipv6 ] \
   && [ "$(cat /proc/sys/net/ipv6/conf/lo/disable_ipv6)" != 0 ]; then
  echo 0 > /proc/sys/net/ipv6/conf/lo/disable_ipv6
fi
