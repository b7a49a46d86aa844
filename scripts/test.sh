#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what the tests need when it is
# missing (Debian packages: redis-server for the state store, prometheus for
# promtool, chromium for the agent desk's browser test, espeak-ng and sox
# for the prompts, baresip and sip-tester for the real SIP phones, Debian's
# English and Russian core sounds for the digits), then checks formatting
# and vet, runs every test with the race detector, and then the
# real-Asterisk stage (scripts/e2e-asterisk.sh) when an Asterisk kit is
# there ($HOTLINE_ASTERISK_KIT, default ../shared/asterisk).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need+=(sox)
command -v baresip >/dev/null 2>&1 || need+=(baresip-core)
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
[ -d /usr/share/asterisk/sounds/en_US_f_Allison ] || need+=(asterisk-core-sounds-en)
[ -d /usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU ] || need+=(asterisk-core-sounds-ru)
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

kit=${HOTLINE_ASTERISK_KIT:-$(pwd)/../shared/asterisk}
if [ -n "${HOTLINE_E2E_ARI_URL:-}" ] || [ -x "$kit/install.sh" ]; then
	echo "== real Asterisk"
	./scripts/e2e-asterisk.sh
else
	echo "!!!!! THE REAL-ASTERISK STAGE DID NOT RUN: no Asterisk kit at $kit (set HOTLINE_ASTERISK_KIT) and no HOTLINE_E2E_ARI_URL; nothing here was checked against a real Asterisk !!!!!"
fi
