#!/usr/bin/env bash
# Installs every Debian package weir needs to build, test and fuzz. Idempotent: packages that
# are already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libgtest-dev libgmock-dev libbenchmark-dev libpcap-dev libseccomp-dev
  libcli11-dev libfmt-dev
  # the DPDK link endpoint (optional in the build; its tests and `weir serve --dpdk` need it)
  dpdk libdpdk-dev
  clang-19 libclang-rt-19-dev
  iproute2 iputils-ping tshark curl python3 procps radvd wrk
  # programs the sandbox tests and scripts/bench_sandbox.sh run inside or beside `weir run`
  iperf3 nginx-light busybox-static slirp4netns passt strace util-linux
  # the lwIP peer of scripts/bench_peers.sh (its system test runs it; the gVisor peer's Go
  # packages are large, so bench_peers.sh installs those itself when asked for that peer)
  liblwip-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages (${missing[*]}); run this script as root" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it so the install never blocks.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
# iperf3 asks whether to start a system-wide daemon: no.
echo "iperf3 iperf3/start_daemon boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
