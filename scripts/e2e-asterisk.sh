#!/usr/bin/env bash
# The real-Asterisk stage: the end-to-end suite, the ARI conformance suite
# and the SIP phone tests against a real Asterisk 22.
#
#   scripts/e2e-asterisk.sh            run the stage (exit 0 only if every
#                                      real-mode test ran and passed)
#   scripts/e2e-asterisk.sh up DIR     start a throwaway Asterisk in DIR and
#                                      write DIR/env (source it to run single
#                                      tests against it), for development
#   scripts/e2e-asterisk.sh down DIR   stop it
#
# The throwaway Asterisk comes from a prebuilt kit ($HOTLINE_ASTERISK_KIT,
# default ../shared/asterisk beside the checkout) on free loopback ports,
# configured with deploy/asterisk/install.sh exactly as the deployment guide
# tells an administrator (so a broken deploy file fails the stage), plus the
# suite's own test contexts (e2e/testdata/asterisk/) and the hotline's
# prompts.
#
# Against an Asterisk you run yourself, set HOTLINE_E2E_ARI_URL,
# HOTLINE_E2E_ARI_USER and HOTLINE_E2E_ARI_PASSWORD (and, for the SIP phone
# tests, HOTLINE_E2E_SIP_ADDR and HOTLINE_E2E_SIP_PHONES: the sip-phones
# file install.sh wrote); its dialplan must include the deployment's and
# the suite's contexts. Nothing is started or stopped then.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

kit=${HOTLINE_ASTERISK_KIT:-$root/../shared/asterisk}

# port_free reports whether no socket of this machine uses port $1.
port_free() {
	local hex
	hex=$(printf ':%04X ' "$1")
	! cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 2>/dev/null | awk '{print $2}' | grep -q "$hex"
}

# pick_ports sets ari_port, sip_port (the hotline phones' transport),
# kit_sip_port (the kit's own transport, unused) and an RTP range. The
# block lies below the kernel's ephemeral range: a port free when it is
# picked could otherwise be taken by any outgoing connection before
# Asterisk binds it (seen: "Unable to bind http server ... Address already
# in use" right after the race-detector run).
pick_ports() {
	local base i ok low span
	low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	span=$(((low - 10300) / 100))
	((span > 0)) || span=1
	for _ in $(seq 1 50); do
		base=$((10000 + (RANDOM % span) * 100))
		ok=1
		for i in $(seq 0 201); do
			port_free $((base + i)) || { ok=0; break; }
		done
		if [ $ok = 1 ]; then
			ari_port=$base sip_port=$((base + 1)) kit_sip_port=$((base + 2))
			rtp_start=$((base + 4)) rtp_end=$((base + 201))
			return
		fi
	done
	echo "e2e-asterisk: no free block of ports found" >&2
	exit 1
}

# up installs and starts a throwaway Asterisk in $1 and writes $1/env.
up() {
	local dir=$1
	[ -x "$kit/install.sh" ] || { echo "e2e-asterisk: no Asterisk kit at $kit (set HOTLINE_ASTERISK_KIT)" >&2; exit 1; }
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	pick_ports
	mkdir -p "$dir/secrets"
	# The ARI password install.sh keeps (it reuses one already there); the
	# kit's own scripts get the same, so start.sh can tell when ARI answers.
	local password
	password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
	(umask 077; echo "$password" >"$dir/secrets/ari-password")
	ARI_USER=hotline ARI_PASSWORD=$password ARI_PORT=$ari_port SIP_PORT=$kit_sip_port \
		RTP_START=$rtp_start RTP_END=$rtp_end "$kit/install.sh" "$dir/ast" >"$dir/install.log" 2>&1 ||
		{ cat "$dir/install.log" >&2; exit 1; }
	local etc=$dir/ast/etc
	# The deployment guide's step, as an administrator runs it.
	SECRETS_DIR=$dir/secrets HTTP_BIND=127.0.0.1:$ari_port SIP_BIND=127.0.0.1:$sip_port \
		AGENTS="101 102 103 301 302 303 304 309" CALLERS="caller1 caller2" FALLBACK=Local/399@phones \
		"$root/deploy/asterisk/install.sh" "$etc" >>"$dir/install.log"
	# The suite's own contexts, never part of a deployment.
	cp "$root/e2e/testdata/asterisk/extensions_e2e.conf" "$etc/"
	grep -qx '#include extensions_e2e.conf' "$etc/extensions.conf" || echo '#include extensions_e2e.conf' >>"$etc/extensions.conf"
	# The prompts, as the deployment guide installs them: every sound of the
	# reference configuration and of the suite's, in their languages, with
	# Debian's core digits where they are installed.
	go build -o "$dir/hotline" ./cmd/hotline
	local core=() sounds=$dir/ast/var/lib/asterisk/sounds
	[ -d /usr/share/asterisk/sounds/en ] && core=(--core-sounds /usr/share/asterisk/sounds)
	sed -e 's#{{ARI_URL}}#http://127.0.0.1:1/ari#' -e 's#{{REDIS}}#127.0.0.1:1#' -e 's#{{[A-Z_]*}}#x#g' \
		e2e/testdata/hotline.yaml >"$dir/e2e-hotline.yaml"
	for cfg in deploy/hotline.yaml "$dir/e2e-hotline.yaml"; do
		"$dir/hotline" prompts --out "$sounds" --config "$cfg" "${core[@]}" >>"$dir/install.log"
	done
	# From its own directory: a crash dumps core there, not in the checkout.
	(cd "$dir" && "$dir/ast/start.sh" >/dev/null)
	cat >"$dir/env" <<-ENV
		export HOTLINE_E2E_ARI_URL=http://127.0.0.1:$ari_port/ari
		export HOTLINE_E2E_ARI_USER=hotline
		export HOTLINE_E2E_ARI_PASSWORD=$password
		export HOTLINE_E2E_SIP_ADDR=127.0.0.1:$sip_port
		export HOTLINE_E2E_SIP_PHONES=$dir/secrets/sip-phones
		export HOTLINE_E2E_ASTERISK_DIR=$dir/ast
	ENV
	echo "e2e-asterisk: Asterisk $("$dir/ast/root/sbin/asterisk" -V | cut -d' ' -f2) up in $dir (ARI 127.0.0.1:$ari_port, SIP 127.0.0.1:$sip_port); source $dir/env"
}

down() {
	local dir=$1
	[ -x "$dir/ast/stop.sh" ] && "$dir/ast/stop.sh" "$dir/ast" >/dev/null 2>&1 || true
}

case ${1:-} in
up) up "${2:?usage: e2e-asterisk.sh up DIR}"; exit 0 ;;
down) down "${2:?usage: e2e-asterisk.sh down DIR}"; exit 0 ;;
"") ;;
*) echo "usage: e2e-asterisk.sh [up DIR | down DIR]" >&2; exit 2 ;;
esac

work=""
status=1
if [ -z "${HOTLINE_E2E_ARI_URL:-}" ]; then
	work=$(mktemp -d /tmp/hotline-asterisk.XXXXXX)
	# Stopped either way; its logs are kept when the stage failed.
	trap 'down "$work"; if [ $status = 0 ]; then rm -rf "$work"; else echo "e2e-asterisk: Asterisk logs kept in $work/ast/var/log/asterisk" >&2; fi' EXIT
	up "$work"
	# shellcheck disable=SC1091
	. "$work/env"
else
	echo "e2e-asterisk: against the Asterisk at $HOTLINE_E2E_ARI_URL"
fi

# Every package with real-Asterisk tests; each runs them only when
# HOTLINE_E2E_ARI_URL is set. One package at a time (-p 1): they share the
# one Asterisk, and each scenario checks that nothing is left in it.
packages=(./e2e/ ./asterisksim/ ./ari/ ./prompts/ ./cmd/hotline/ ./internal/baresip/)
log=${TMPDIR:-/tmp}/hotline-e2e-asterisk.json
echo "== real Asterisk: go test -race -p 1 ${packages[*]}"
status=0
go test -race -count=1 -p 1 -json -timeout 18m "${packages[@]}" >"$log" || status=$?
# A readable summary: failures with their output, skips with their reasons,
# the counts. A skip not declared (with its reason) in
# e2e/testdata/asterisk/skips fails the stage: every real-mode test runs.
go run ./scripts/testsummary -skips e2e/testdata/asterisk/skips <"$log" || status=1

# Nothing may be left behind in Asterisk.
auth="$HOTLINE_E2E_ARI_USER:$HOTLINE_E2E_ARI_PASSWORD"
for what in channels bridges; do
	left=$(curl -fsS -u "$auth" "$HOTLINE_E2E_ARI_URL/$what" || echo "?")
	if [ "$left" != "[]" ]; then
		echo "e2e-asterisk: $what left in Asterisk after the suite: $left" >&2
		status=1
	fi
done
if [ -n "$work" ]; then
	if grep -q "Segmentation\|Got SIGSEGV\|Asterisk ending" "$work/ast/var/log/asterisk/stdout.log" 2>/dev/null || ! "$work/ast/cli.sh" "core show uptime" >/dev/null 2>&1; then
		echo "e2e-asterisk: Asterisk is not running any more (crashed?): see $work/ast/var/log/asterisk" >&2
		status=1
	fi
fi
[ $status = 0 ] && echo "e2e-asterisk: real-Asterisk stage passed"
exit $status
