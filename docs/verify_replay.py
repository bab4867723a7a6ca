import hashlib, json, socket, sys
host, port, token, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], (sys.argv[4:] or ["1"])[0]
conn = socket.create_connection((host, port)).makefile("rwb")
conn.write(f"HELLO {token}\nREPLAY {start}\n".encode()); conn.flush()
assert conn.readline().startswith(b"OK "), "HELLO refused"
payloads, line = [], conn.readline()
while line.startswith(b"EVENT "): payloads.append(line[6:-1]); line = conn.readline()
final = json.loads(line[3:]); h = bytes.fromhex(final["prev_hash"])
for p in payloads: h = hashlib.sha256(h + p).digest()
print("chain verified" if h.hex() == final["hash"] else "CHAIN BROKEN", final["count"], "events, last", final["last"])
