# An independent reader for apk v2 files, used by melwrap's tests: Python's zlib, gzip and
# tarfile only. Prints JSON describing every gzip member and tar entry; with a second argument,
# extracts the data section there.
import hashlib, io, json, sys, tarfile, zlib

path = sys.argv[1]
blob = open(path, "rb").read()

members = []
pos = 0
while pos < len(blob):
    d = zlib.decompressobj(wbits=31)  # exactly one gzip member
    raw = d.decompress(blob[pos:])
    raw += d.flush()
    if not d.eof:
        sys.exit("truncated gzip member at offset %d" % pos)
    end = len(blob) - len(d.unused_data)
    members.append({"offset": pos, "length": end - pos, "raw": raw})
    pos = end

out = {"members": []}
for m in members:
    raw = m.pop("raw")
    ends_with_eoa = raw.endswith(b"\0" * 1024)
    tf = tarfile.open(fileobj=io.BytesIO(raw + b"\0" * 1024), mode="r:")
    entries = []
    for ti in tf:
        e = {
            "name": ti.name, "type": ti.type.decode(), "mode": ti.mode, "uid": ti.uid,
            "gid": ti.gid, "uname": ti.uname, "gname": ti.gname, "mtime": ti.mtime,
            "size": ti.size, "linkname": ti.linkname,
            "pax": {k: v for k, v in ti.pax_headers.items()},
        }
        if ti.isfile():
            data = tf.extractfile(ti).read()
            e["sha1"] = hashlib.sha1(data).hexdigest()
            if len(data) < 65536:
                e["text"] = data.decode("utf-8", "replace")
                e["hex"] = data.hex()
        entries.append(e)
    m["sha256"] = hashlib.sha256(blob[m["offset"]:m["offset"] + m["length"]]).hexdigest()
    m["sha1"] = hashlib.sha1(blob[m["offset"]:m["offset"] + m["length"]]).hexdigest()
    m["end_of_archive"] = ends_with_eoa
    m["header"] = blob[m["offset"]:m["offset"] + 10].hex()
    m["entries"] = entries
    out["members"].append(m)

# xattr values are binary: show them as hex.
for m in out["members"]:
    for e in m["entries"]:
        e["pax"] = {k: (v.encode("utf-8", "surrogateescape").hex() if k.startswith("SCHILY.xattr.") else v)
                    for k, v in e["pax"].items()}

if len(sys.argv) > 2:
    data = members[-1]
    raw = zlib.decompress(blob[data["offset"]:], wbits=31)
    tf = tarfile.open(fileobj=io.BytesIO(raw), mode="r:")
    # Extract exactly what the archive says (Python 3.14 would apply the "data" filter by
    # default); Pythons without extraction filters (before 3.11.4, 3.10.12, ...) always do.
    if hasattr(tarfile, "fully_trusted_filter"):
        tf.extractall(sys.argv[2], numeric_owner=True, filter="fully_trusted")
    else:
        tf.extractall(sys.argv[2], numeric_owner=True)

json.dump(out, sys.stdout)
