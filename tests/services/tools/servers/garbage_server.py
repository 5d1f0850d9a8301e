"""Not a working MCP server: answers each request with noise or with a malformed result.

``noise`` (default): lines that are not JSON-RPC. ``bad-result``: a JSON-RPC response to the
right id whose result has the wrong shape.
"""

import json
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else "noise"
for line in sys.stdin:
    if mode == "noise":
        sys.stdout.write("<html>certainly not json-rpc</html>\n")
    else:
        request = json.loads(line)
        if "id" in request:
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": {"tools": "not a list"}}
            sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
