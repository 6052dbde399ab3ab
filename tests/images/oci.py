#!/usr/bin/env python3
"""Pack a directory into a one-layer OCI image layout tar, and read such archives back (stdlib only).

  oci.py pack --root DIR --name localhost/NAME:TAG --out FILE.tar \
      [--user 999:999] [--env K=V]... [--entrypoint '["/bin"]'] [--cmd '["run"]']
  oci.py show FILE.tar        # names, config and file tree of any OCI archive (buildah's too)

The archive is reproducible: entries sorted, mtimes fixed (SOURCE_DATE_EPOCH, default 0), numeric owners kept
(files owned by 999 stay 999), no user or group names, symlinks and hardlinks kept, devices/fifos/sockets skipped.
The layer is stored uncompressed (faster to pack and import). `ctr -n k8s.io images import FILE` names the
image from the io.containerd.image.name annotation.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import tempfile

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = "application/vnd.oci.image.layer.v1.tar"
MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


class HashingWriter:
    """A write-only file object that hashes and counts what goes through it."""

    def __init__(self, out):
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data):
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data)


def walk(root, rel=""):
    """Yields (archive path, absolute path) depth-first in sorted order, never following symlinks."""
    with os.scandir(os.path.join(root, rel)) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = f"{rel}/{entry.name}" if rel else entry.name
        yield path, entry.path
        if entry.is_dir(follow_symlinks=False):
            yield from walk(root, path)


def write_layer(root, out):
    """Writes the tar of ROOT's contents to OUT; returns (sha256 hex, size)."""
    hw = HashingWriter(out)
    seen = {}  # (dev, inode) -> first path, for hardlinks
    with tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, full in walk(root):
            st = os.lstat(full)
            info = tarfile.TarInfo(path)
            info.mode, info.uid, info.gid, info.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, MTIME
            info.uname = info.gname = ""
            if stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in seen:
                    info.type, info.linkname = tarfile.LNKTYPE, seen[key]
                else:
                    seen[key] = path
                    info.size = st.st_size
                    with open(full, "rb") as f:
                        tar.addfile(info, f)
                    continue
            else:
                continue  # device files, fifos and sockets do not belong in an image
            tar.addfile(info)
    return hw.sha.hexdigest(), hw.size


def blob(data):
    return {"digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, MTIME
    tar.addfile(info, io.BytesIO(data))


def pack(root, name, out, user="", env=(), entrypoint=None, cmd=None):
    out_dir = os.path.dirname(os.path.abspath(out))
    with tempfile.TemporaryFile(dir=out_dir) as layer:
        layer_sha, layer_size = write_layer(root, layer)
        config = {"User": user, "Env": list(env)}
        if entrypoint is not None:
            config["Entrypoint"] = entrypoint
        if cmd is not None:
            config["Cmd"] = cmd
        image_config = {
            "architecture": "amd64",
            "os": "linux",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + layer_sha]},
            "history": [{"created_by": f"tests/images/oci.py pack {name}"}],
        }
        config_bytes = json.dumps(image_config, sort_keys=True, separators=(",", ":")).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, **blob(config_bytes)},
            "layers": [{"mediaType": MEDIA_LAYER, "digest": "sha256:" + layer_sha, "size": layer_size}],
        }
        manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{
                "mediaType": MEDIA_MANIFEST,
                **blob(manifest_bytes),
                "platform": {"architecture": "amd64", "os": "linux"},
                "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name},
            }],
        }
        tmp = out + ".tmp"
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            add_bytes(tar, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            add_bytes(tar, "index.json", json.dumps(index, sort_keys=True, indent=1).encode())
            for d in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                tar.addfile(info)
            for data in sorted([config_bytes, manifest_bytes], key=lambda d: blob(d)["digest"]):
                add_bytes(tar, "blobs/sha256/" + blob(data)["digest"][7:], data)
            layer.seek(0)
            info = tarfile.TarInfo("blobs/sha256/" + layer_sha)
            info.size, info.mode, info.mtime = layer_size, 0o644, MTIME
            tar.addfile(info, layer)
        os.replace(tmp, out)


def clean(name):
    """A tar member name without a leading './' or '/' and without a trailing '/'."""
    while name.startswith(("./", "/")):
        name = name[1:] if name.startswith("/") else name[2:]
    return "" if name == "." else name.rstrip("/")


def image_parts(outer):
    """(names, image config, layer tars as bytes) of the first image in an open OCI layout tar."""
    def read(digest):
        return outer.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()

    index = json.loads(outer.extractfile("index.json").read())
    desc = index["manifests"][0]
    names = sorted(set((desc.get("annotations") or {}).values()))
    manifest = json.loads(read(desc["digest"]))
    while "manifests" in manifest:  # a nested index
        manifest = json.loads(read(manifest["manifests"][0]["digest"]))
    config = json.loads(read(manifest["config"]["digest"]))
    layers = []
    for layer in manifest["layers"]:
        data = read(layer["digest"])
        layers.append(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return names, config, layers


def read_image(archive):
    """Returns (names, image config, files) of the first image in an OCI layout tar. files maps each path to a
    dict of type, mode, uid, gid and sha256 (regular files) or link target; layers are applied in order."""
    with tarfile.open(archive) as outer:
        names, config, layers = image_parts(outer)
        files = {}
        for data in layers:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for m in tar:
                    path = clean(m.name)
                    if not path:
                        continue
                    entry = {"mode": oct(m.mode & 0o7777), "uid": m.uid, "gid": m.gid}
                    if m.isfile():
                        entry["type"] = "file"
                        entry["sha256"] = hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                    elif m.isdir():
                        entry["type"] = "dir"
                    elif m.issym():
                        entry["type"], entry["link"] = "symlink", m.linkname
                    elif m.islnk():
                        entry["type"], entry["link"] = "hardlink", clean(m.linkname)
                    else:
                        entry["type"] = "other"
                    files[path] = entry
    return names, config, files


def extract(archive, path, dest):
    """Writes the regular file `path` of the image (its last layer's version) to `dest`, mode 0755."""
    found = None
    with tarfile.open(archive) as outer:
        for data in image_parts(outer)[2]:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for m in tar:
                    if clean(m.name) == clean(path) and m.isfile():
                        found = tar.extractfile(m).read()
    if found is None:
        sys.exit(f"{path} is not a file in {archive}")
    tmp = dest + ".partial"
    with open(tmp, "wb") as f:
        f.write(found)
    os.chmod(tmp, 0o755)
    os.replace(tmp, dest)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="pack a root directory into an OCI image layout tar")
    p.add_argument("--root", required=True)
    p.add_argument("--name", required=True, help="full image name, e.g. localhost/pause:3.10")
    p.add_argument("--out", required=True)
    p.add_argument("--user", default="")
    p.add_argument("--env", action="append", default=[], help="K=V, repeatable")
    p.add_argument("--entrypoint", type=json.loads, help="JSON list")
    p.add_argument("--cmd", type=json.loads, help="JSON list")
    s = sub.add_parser("show", help="print the names, config and file tree of an OCI archive")
    s.add_argument("archive")
    e = sub.add_parser("extract", help="write one file of an OCI archive's image to a path")
    e.add_argument("archive")
    e.add_argument("path")
    e.add_argument("dest")
    args = parser.parse_args()
    if args.command == "pack":
        pack(args.root, args.name, args.out, args.user, args.env, args.entrypoint, args.cmd)
    elif args.command == "extract":
        extract(args.archive, args.path, args.dest)
    else:
        names, config, files = read_image(args.archive)
        print(json.dumps({"names": names, "config": config.get("config", {})}, indent=1))
        for path, e in sorted(files.items()):
            extra = e.get("sha256", e.get("link", ""))
            print(f"{e['type']:8} {e['mode']:>7} {e['uid']}:{e['gid']} {path} {extra}")


if __name__ == "__main__":
    sys.exit(main())
