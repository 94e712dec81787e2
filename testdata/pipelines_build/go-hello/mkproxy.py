"""Lay out a file GOPROXY (https://go.dev/ref/mod#goproxy-protocol) serving the module in
greet/ as example.com/greet v1.0.0, so the Go pipelines download into GOMODCACHE offline."""
import os
import sys
import zipfile

src, proxy = sys.argv[1], sys.argv[2]
mod, ver = "example.com/greet", "v1.0.0"
at = os.path.join(proxy, mod, "@v")
os.makedirs(at, exist_ok=True)
with open(os.path.join(at, "list"), "w") as f:
    f.write(ver + "\n")
with open(os.path.join(at, ver + ".info"), "w") as f:
    f.write('{"Version":"%s","Time":"2024-01-01T00:00:00Z"}\n' % ver)
with open(os.path.join(src, "go.mod")) as f, open(os.path.join(at, ver + ".mod"), "w") as g:
    g.write(f.read())
with zipfile.ZipFile(os.path.join(at, ver + ".zip"), "w") as z:
    for root, _, files in os.walk(src):
        for name in sorted(files):
            path = os.path.join(root, name)
            z.write(path, mod + "@" + ver + "/" + os.path.relpath(path, src))
