#!/usr/bin/env bash
# Debian packages the tests and benchmarks need: a container engine (podman, where no Docker engine
# runs), debootstrap for a local base image when no container registry answers, wrk for load,
# chromium for the tests that look at the MLflow UI in a real browser, and a JDK for the PMML export and the
# README's Java program that scores its document.
# Installs only what is missing; as root directly, otherwise through passwordless sudo.
# `system-packages.sh team`: only what the team stack needs (`make team-up`); nothing where Docker runs.
set -euo pipefail

containers=(podman buildah runc debootstrap)
if [ "${1:-}" = team ]; then
  docker info >/dev/null 2>&1 && exit 0
  wanted=("${containers[@]}")
else
  wanted=("${containers[@]}" wrk chromium default-jdk-headless)
fi
missing=()
for package in "${wanted[@]}"; do
  dpkg-query --show --showformat='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
