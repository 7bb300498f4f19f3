#!/bin/sh
# Checks a Corridor transparency-log checkpoint with standard tools only
# (POSIX sh, coreutils, awk, openssl 3): the log's Ed25519 signature and,
# for each witness key given, that witness's timestamped cosignature
# (c2sp.org/signed-note, c2sp.org/tlog-cosignature).
#
#   verify-checkpoint.sh CHECKPOINT LOG_VKEY [WITNESS_VKEY...]
#
# A vkey is the text served at /log/key (name+hash+base64 key); witnesses
# publish theirs. Exits non-zero if any signature is missing or invalid.
set -eu
cp=$1; logkey=$2; shift 2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# The signed text is every line before the blank line, newline included.
awk '/^$/ { exit } { print }' "$cp" > "$tmp/body"

# An Ed25519 vkey's key is its last 32 bytes; openssl wants it wrapped in
# a SubjectPublicKeyInfo (the 12-byte DER prefix for Ed25519).
pubkey() {
	printf '\060\052\060\005\006\003\053\145\160\003\041\000' > "$tmp/pub.der"
	printf '%s' "$1" | cut -d+ -f3- | base64 -d | tail -c 32 >> "$tmp/pub.der"
}
# sigbytes NAME: the signature line "— NAME base64" decoded, minus the
# 4-byte key hash. (Picks the first line with that name.)
sigbytes() {
	line=$(grep -F -- "— $1 " "$cp" | head -n 1) || { echo "no signature by $1" >&2; exit 1; }
	printf '%s' "${line##* }" | base64 -d | tail -c +5 > "$tmp/sig"
}
verify() {
	openssl pkeyutl -verify -pubin -inkey "$tmp/pub.der" -keyform DER -rawin \
		-in "$1" -sigfile "$2" > /dev/null
}

name=$(printf '%s' "$logkey" | cut -d+ -f1)
[ "$(head -n 1 "$tmp/body")" = "$name" ] || { echo "checkpoint is not of log $name" >&2; exit 1; }
pubkey "$logkey"; sigbytes "$name"
verify "$tmp/body" "$tmp/sig" || { echo "log signature INVALID" >&2; exit 1; }
echo "log signature by $name OK: $(sed -n 2p "$tmp/body") entries, root $(sed -n 3p "$tmp/body")"

for w in "$@"; do
	wname=$(printf '%s' "$w" | cut -d+ -f1)
	pubkey "$w"; sigbytes "$wname"
	# cosignature/v1: 8-byte big-endian time, then the signature over
	# "cosignature/v1\ntime T\n" and the checkpoint text.
	t=$(head -c 8 "$tmp/sig" | od -An -tu8 --endian=big | tr -d ' ')
	tail -c 64 "$tmp/sig" > "$tmp/wsig"
	{ printf 'cosignature/v1\ntime %s\n' "$t"; cat "$tmp/body"; } > "$tmp/signed"
	verify "$tmp/signed" "$tmp/wsig" || { echo "cosignature by $wname INVALID" >&2; exit 1; }
	echo "cosignature by $wname OK at $(date -u -d "@$t" '+%Y-%m-%dT%H:%M:%SZ')"
done
