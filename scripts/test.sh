#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the tests need when it is
# missing (Debian packages: redis-server for the state store, prometheus for
# promtool, chromium for the agent desk's browser test), then checks
# formatting and vet, and runs every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ((${#need[@]})); then
	echo "installing: ${need[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
	# The prometheus package starts its own service where an init system
	# runs; the tests only need its promtool. Stop that service only, never
	# a prometheus someone else runs on this machine.
	if [[ " ${need[*]} " == *" prometheus "* ]]; then
		$sudo service prometheus stop >/dev/null 2>&1 || true
	fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 -timeout 14m ./... 2>&1 | tee /tmp/hotline-test.log
