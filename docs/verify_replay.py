import hashlib, json, os, socket, ssl, sys
host, port, token, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], int((sys.argv[4:] or ["1"])[0])
sock = socket.create_connection((host, port))
if os.environ.get("RECOVERYD_TLS_CA"):  # a server started with --tls-cert/--tls-key
    sock = ssl.create_default_context(cafile=os.environ["RECOVERYD_TLS_CA"]).wrap_socket(sock, server_hostname=host)
conn = sock.makefile("rwb")
conn.write(f"HELLO {token}\nREPLAY {start}\n".encode()); conn.flush()
hello = conn.readline(); assert hello.startswith(b"OK "), "HELLO refused"
payloads, line = [], conn.readline()
while line.startswith(b"EVENT "): payloads.append(line[6:-1]); line = conn.readline()
final = json.loads(line[3:])
h = bytes(32) if start == 1 else bytes.fromhex(final["prev_hash"])  # from 1: the genesis hash, not the server's word
hashes = {start - 1: h}
for n, p in enumerate(payloads, start): h = hashlib.sha256(h + p).digest(); hashes[n] = h
print("chain verified" if h.hex() == final["hash"] else "CHAIN BROKEN", final["count"], "events, last", final["last"])
if os.environ.get("RECOVERYD_HEADS"):  # heads saved earlier by `recoveryctl head >> FILE`
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    for saved in map(json.loads, open(os.environ["RECOVERYD_HEADS"])):
        text = f"recoveryd-head:v1:{saved['ledger']}:{saved['position']}:{saved['hash']}:{saved['signed_at']}".encode()
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(saved["signing_key"])).verify(bytes.fromhex(saved["signature"]), text)
        held = hashes.get(saved["position"], b"").hex() == saved["hash"]
        print("head", saved["position"], "holds" if held else "DOES NOT HOLD: history was rewritten")
