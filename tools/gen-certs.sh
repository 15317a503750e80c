#!/usr/bin/env bash
# Makes test certificates for TLS on the client and peer ports, with the openssl tool:
#   ca.pem, ca-key.pem          a self-signed CA (EC P-256, 10 years)
#   server.pem, server-key.pem  client port: serverAuth, for localhost and 127.0.0.1 (plus HOSTS)
#   peer.pem, peer-key.pem      peer port: serverAuth and clientAuth (members dial each other)
#   client.pem, client-key.pem  a client (etcdctl --cert/--key): clientAuth, CN=root
# Usage: tools/gen-certs.sh DIR [HOST_OR_IP...]   (DIR is created; existing files are replaced)
# Test certificates only: the keys are written unencrypted.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 DIR [HOST_OR_IP...]" >&2
  exit 2
fi
dir=$1
shift
command -v openssl >/dev/null || { echo "$0: the openssl tool is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"

san="DNS:localhost,IP:127.0.0.1"
for h in "$@"; do
  if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+=",IP:$h"; else san+=",DNS:$h"; fi
done

key() { openssl ecparam -name prime256v1 -genkey -noout -out "$1" 2>/dev/null; chmod 600 "$1"; }

key ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days 3650 -subj "/CN=capstan test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out ca.pem 2>/dev/null

# sign NAME CN EXTENDED_KEY_USAGE WITH_SAN
sign() {
  local name=$1 cn=$2 eku=$3 with_san=$4 ext
  key "$name-key.pem"
  openssl req -new -key "$name-key.pem" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  ext=$(mktemp)
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    if [ "$with_san" = yes ]; then echo "subjectAltName=$san"; fi
  } >"$ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256 -days 3650 \
    -extfile "$ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$ext"
}

sign server "capstan server" serverAuth yes
sign peer "capstan peer" serverAuth,clientAuth yes
sign client root clientAuth no
rm -f ca.srl
echo "certificates in $(pwd): ca.pem server.pem peer.pem client.pem (and their -key.pem)"
