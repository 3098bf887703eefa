# shellcheck shell=bash
# scripts/lib/lab_pki.sh — the lab's certificates and tokens, made with openssl: one CA per
# lab (kept once made), server certificates for the lab's agents (their node name and
# underlay address as subject alternative names), client certificates, bearer tokens.
# Keys and tokens are mode 0600. Self-contained (openssl, mktemp), so that the integration
# tests may source it too. Sourced by scripts/lab (lab_agents.sh uses it).

# pki_openssl ARGS...: openssl, quiet unless it fails.
pki_openssl() {
  local err
  if ! err=$(openssl "$@" 2>&1 >/dev/null); then
    printf 'openssl %s failed: %s\n' "$1" "$err" >&2
    return 1
  fi
}

# pki_ca DIR: DIR/ca.crt and DIR/ca.key, made unless both exist.
pki_ca() {
  local dir=$1
  mkdir -p "$dir"
  chmod 700 "$dir"
  [[ -s $dir/ca.crt && -s $dir/ca.key ]] && return 0
  pki_openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -days 3650 -subj "/CN=podpath-lab-ca" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  chmod 600 "$dir/ca.key"
}

# pki_cert DIR NAME USAGE SAN...: DIR/NAME.crt and DIR/NAME.key signed by DIR's CA, for
# USAGE serverAuth or clientAuth, with the subject alternative names SAN (IP:x or DNS:x;
# none for a client).
pki_cert() {
  local dir=$1 name=$2 usage=$3
  shift 3
  local tmp san
  tmp=$(mktemp -d)
  {
    if (( $# )); then
      san=$(IFS=,; printf '%s' "$*")
      printf 'subjectAltName=%s\n' "$san"
    fi
    printf 'extendedKeyUsage=%s\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n' "$usage"
  } >"$tmp/ext.cnf"
  if pki_openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
       -keyout "$dir/$name.key" -out "$tmp/req.csr" -subj "/CN=$name" &&
     pki_openssl x509 -req -in "$tmp/req.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
       -out "$dir/$name.crt" -days 825 -extfile "$tmp/ext.cnf"; then
    chmod 600 "$dir/$name.key"
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$tmp"
  return 1
}

# pki_token FILE: a random bearer token (64 hex digits) in FILE, mode 0600, unless it exists.
pki_token() {
  [[ -s $1 ]] && return 0
  (umask 077 && openssl rand -hex 32 >"$1")
}
