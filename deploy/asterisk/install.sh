#!/bin/sh
# Installs the hotline's Asterisk configuration into an Asterisk
# configuration directory, generating every password it needs.
#
#   deploy/asterisk/install.sh [ETC_DIR]        (default /etc/asterisk)
#
# Settings (environment):
#   HTTP_BIND    address:port of Asterisk's HTTP server, which carries ARI
#                (default 127.0.0.1:8088)
#   SIP_BIND     address:port of the hotline phones' SIP transport
#                (default 127.0.0.1:5060)
#   AGENTS       the agents' PJSIP endpoints, one per agent of hotline.yaml
#                (default "101 102 103 104 105 106 107 108 109")
#   CALLERS      desk phones that dial hotline numbers (default
#                "caller1 caller2"; "" for none)
#   FALLBACK     what rings when the hotline cannot route a call (Redis
#                down, the daemon not connected): a Dial() target such as
#                "PJSIP/108&PJSIP/109" (default: none; the caller hears
#                the hotline-unavailable prompt)
#   SECRETS_DIR  where the generated secrets are kept (default /etc/hotline):
#                ari-password (the ARI user's, for hotline.yaml's
#                ari.password_file) and sip-phones ("endpoint password"
#                per line, to configure the phones). Existing ones are kept,
#                so running this again changes no password.
#
# What it does: copies http.conf, ari.conf and musiconhold.conf over
# Asterisk's (the old ones are kept once as NAME.before-hotline), copies
# extensions_hotline.conf and pjsip_hotline.conf beside extensions.conf and
# pjsip.conf and #includes them there, and writes pjsip_hotline_phones.conf
# (an endpoint, auth and aor per phone). Then reload Asterisk:
#   asterisk -rx "core reload"
set -eu

here=$(cd "$(dirname "$0")" && pwd)
etc=${1:-/etc/asterisk}
http_bind=${HTTP_BIND:-127.0.0.1:8088}
sip_bind=${SIP_BIND:-127.0.0.1:5060}
agents=${AGENTS-101 102 103 104 105 106 107 108 109}
callers=${CALLERS-caller1 caller2}
secrets=${SECRETS_DIR:-/etc/hotline}
fallback=${FALLBACK:-}

die() { echo "install.sh: $*" >&2; exit 1; }
[ -d "$etc" ] || die "$etc is not a directory (give Asterisk's configuration directory)"
case $http_bind in *:*) ;; *) die "HTTP_BIND must be address:port, not $http_bind" ;; esac
case $sip_bind in *:*) ;; *) die "SIP_BIND must be address:port, not $sip_bind" ;; esac
for p in $agents $callers; do
	case $p in *[!A-Za-z0-9_-]*) die "phone name $p: letters, digits, - and _ only" ;; esac
done
case $fallback in *[!A-Za-z0-9_@/\&.:-]*) die "FALLBACK $fallback: a Dial() target such as PJSIP/108&PJSIP/109" ;; esac

umask 027
mkdir -p "$secrets"

# secret prints a new random password: 32 hex digits.
secret() {
	if command -v openssl >/dev/null 2>&1; then
		openssl rand -hex 16
	else
		od -An -N16 -tx1 /dev/urandom | tr -d ' \n'
		echo
	fi
}

# own makes a file readable by Asterisk's (or the hotline's) group when the
# group exists; it stays unreadable to everyone else.
own() {
	if getent group "$2" >/dev/null 2>&1; then
		chgrp "$2" "$1"
	fi
	chmod 0640 "$1"
}

keep_original() {
	if [ -f "$etc/$1" ] && [ ! -f "$etc/$1.before-hotline" ]; then
		cp -p "$etc/$1" "$etc/$1.before-hotline"
	fi
}

# include adds "#include FILE" to a main configuration file once.
include() {
	main=$etc/$1
	touch "$main"
	grep -qx "#include $2" "$main" || printf '\n; the hotline (deploy/asterisk/install.sh)\n#include %s\n' "$2" >>"$main"
}

# 1. ARI password: generated once, kept in SECRETS_DIR.
if [ ! -s "$secrets/ari-password" ]; then
	secret >"$secrets/ari-password"
fi
own "$secrets/ari-password" hotline
ari_password=$(cat "$secrets/ari-password")

# 2. Files copied over Asterisk's, with the addresses and the password.
keep_original http.conf
sed -e "s/^bindaddr = .*/bindaddr = ${http_bind%:*}/" -e "s/^bindport = .*/bindport = ${http_bind##*:}/" \
	"$here/http.conf" >"$etc/http.conf"
keep_original ari.conf
{
	cat "$here/ari.conf"
	echo "password = $ari_password"
} >"$etc/ari.conf"
own "$etc/ari.conf" asterisk
keep_original musiconhold.conf
cp "$here/musiconhold.conf" "$etc/musiconhold.conf"

# 3. Files beside Asterisk's, included from them.
# (& is sed's "what matched": escaped.)
sed -e "s|^ same => n,Set(FALLBACK=)\$| same => n,Set(FALLBACK=$(printf '%s' "$fallback" | sed 's/&/\\&/g'))|" \
	"$here/extensions_hotline.conf" >"$etc/extensions_hotline.conf"
include extensions.conf extensions_hotline.conf
sed -e "s/^bind = .*/bind = $sip_bind/" "$here/pjsip_hotline.conf" >"$etc/pjsip_hotline.conf"
include pjsip.conf pjsip_hotline.conf

# 4. One endpoint per phone, each with its own password.
touch "$secrets/sip-phones"
own "$secrets/sip-phones" hotline
phones=$etc/pjsip_hotline_phones.conf
{
	echo "; Written by deploy/asterisk/install.sh; the passwords are in $secrets/sip-phones."
	for p in $agents $callers; do
		pw=$(awk -v p="$p" '$1 == p { print $2 }' "$secrets/sip-phones")
		if [ -z "$pw" ]; then
			pw=$(secret)
			echo "$p $pw" >>"$secrets/sip-phones"
		fi
		kind=hotline-agent
		case " $callers " in *" $p "*) kind=hotline-caller ;; esac
		printf '\n[%s](%s)\nauth = %s\naors = %s\ncallerid = "%s" <%s>\n' "$p" "$kind" "$p" "$p" "$p" "$p"
		printf '[%s](hotline-auth)\nusername = %s\npassword = %s\n' "$p" "$p" "$pw"
		printf '[%s](hotline-aor)\n' "$p"
	done
} >"$phones"
own "$phones" asterisk
include pjsip.conf pjsip_hotline_phones.conf

echo "hotline Asterisk configuration installed into $etc"
echo "  ARI on http://$http_bind/ari, user hotline, password in $secrets/ari-password"
echo "  SIP on udp $sip_bind: phones $agents $callers, passwords in $secrets/sip-phones"
echo "  then: asterisk -rx \"core reload\""
