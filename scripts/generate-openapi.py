#!/usr/bin/env python3
"""Regenerates Sources/RecoveryHTTP/Generated from docs/openapi.yaml.

The document is the source. Before the generator sees it, every JSON body's
schema (requests and 200 answers) is replaced by `{}`, a free-form value: the
answers are built once, in RecoveryWire's Replies, for both protocols, and
pass through as JSON values, so they cannot drift apart. The schemas stay in
the document for clients and validators; the tests check real answers against
them. Problems keep their typed schema, and so do append receipts; the
appends' body is taken as raw bytes (see below).

usage: scripts/generate-openapi.py /path/to/swift-openapi-generator
(build it once: a package depending on apple/swift-openapi-generator 1.14.3,
`swift build -c release --product swift-openapi-generator`).
"""
import hashlib, json, os, subprocess, sys, tempfile
import yaml

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
source = os.path.join(root, "docs", "openapi.yaml")
out = os.path.join(root, "Sources", "RecoveryHTTP", "Generated")
text = open(source, "rb").read()
document = yaml.safe_load(text)

# Appends are the hot path: their body is taken raw ("*/*": bytes, whatever
# the content type, which the server then requires to be application/json)
# and parsed by the daemon's own JSON parser, as an APPEND line is; their
# receipts keep the document's types (plain structs, cheap to encode).
TYPED_ANSWERS = {"appendEvents"}
for path in document["paths"].values():
    for operation in path.values():
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            if operation["operationId"] == "appendEvents":
                body["*/*"] = {"schema": {}}
                del body["application/json"]
            else:
                body["application/json"]["schema"] = {}
        for code, response in operation.get("responses", {}).items():
            if "$ref" in response or operation["operationId"] in TYPED_ANSWERS:
                continue
            content = response.get("content", {})
            if "application/json" in content:
                content["application/json"]["schema"] = {}

# What the server code still names: problems and their codes, receipts.
kept = ("Problem", "ErrorCode", "Receipt", "BatchResults")
document["components"]["schemas"] = {k: v for k, v in document["components"]["schemas"].items() if k in kept}

config = {"generate": ["types", "server"], "accessModifier": "internal", "namingStrategy": "idiomatic"}
for name in os.listdir(out):
    os.remove(os.path.join(out, name))
with tempfile.TemporaryDirectory() as work:
    with open(os.path.join(work, "openapi.json"), "w") as f:
        json.dump(document, f)
    with open(os.path.join(work, "openapi-generator-config.yaml"), "w") as f:
        yaml.safe_dump(config, f)
    subprocess.run([sys.argv[1], "generate", os.path.join(work, "openapi.json"),
                    "--config", os.path.join(work, "openapi-generator-config.yaml"),
                    "--output-directory", out], check=True)

digest = hashlib.sha256(text).hexdigest()
for name in sorted(os.listdir(out)):
    path = os.path.join(out, name)
    generated = open(path).read()
    open(path, "w").write(f"// Generated from docs/openapi.yaml (sha256 {digest}) by scripts/generate-openapi.py; do not edit.\n" + generated)
print("generated from docs/openapi.yaml sha256", digest)
