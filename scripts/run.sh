#!/usr/bin/env bash
# `make run`: initialise the data dir once, show how to call the API, then serve in
# --dcv-mode auto (issuance without validation: for development, and the banner says so).
# The credentials of the first init are kept in DATA/credentials.json (mode 0600, in a
# 0700 dir) so later runs can show them again; this is a development convenience.
set -euo pipefail
bin=$1 data=$2 listen=$3

if [ ! -f "$data/tlsward.db" ]; then
  creds=$("$bin" init --data "$data" --json)
  (umask 077 && printf '%s\n' "$creds" > "$data/credentials.json")
fi
creds=$(cat "$data/credentials.json" 2>/dev/null || true)
field() { printf '%s' "$creds" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
token=$(field token) account=$(field account_id)

base="http://$listen/client/v4"
if [ -n "$token" ]; then
  cat <<MSG
tlsward is starting on http://$listen (data: $data)

  DCV mode:    auto -- every certificate pack is issued WITHOUT domain validation
               (development only; a real server runs the default --dcv-mode check)

  API token:   $token
  account id:  $account

Try it:
  curl -s -H "Authorization: Bearer $token" $base/user/tokens/verify
  curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \\
       -d '{"name":"example.com","account":{"id":"$account"}}' $base/zones

MSG
else
  echo "tlsward is starting on http://$listen (data: $data; no $data/credentials.json to show)"
  echo "DCV mode: auto -- packs are issued WITHOUT domain validation (development only)"
fi
exec "$bin" serve --data "$data" --listen "$listen" --dcv-mode auto
