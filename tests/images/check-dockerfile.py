#!/usr/bin/env python3
"""Keeps the repository-root Dockerfile true to the operator image that tests/images/build.sh packs.

  tests/images/check-dockerfile.py [--no-buildah]

1. builds localhost/mysqlinstance-operator:VERSION with build.sh (cached; also leaves the musl binary in target/);
2. reads the Dockerfile (FROM scratch, COPY, USER, ENV, ENTRYPOINT, CMD) into the image it declares, and
3. builds it with Debian's buildah (vfs storage in a temporary directory, no daemon; installed when missing) and
   writes it out as an oci-archive;
then compares the file tree (paths, types, modes, owners, sha256 of contents) and the config (User, Entrypoint,
Cmd, Env) of each with build.sh's image, printing every difference. Exits 1 on any difference.
"""

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import oci  # noqa: E402

CONFIG_KEYS = ("User", "Entrypoint", "Cmd", "Env")
# What Docker and buildah give a FROM scratch image that sets no PATH.
DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def log(msg):
    print(f"check-dockerfile: {msg}", file=sys.stderr, flush=True)


def parse_dockerfile(path):
    """The (config, files) a FROM scratch Dockerfile declares. Only the instructions the operator's uses."""
    config, files, env = {}, {}, []
    lines, pending = [], ""
    for raw in open(path):
        line = raw.rstrip("\n")
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((pending + line).strip())
        pending = ""
    if not lines or lines[0].split()[:2] != ["FROM", "scratch"]:
        raise SystemExit("check-dockerfile: the Dockerfile must start FROM scratch (nothing else can be built here)")
    for line in lines[1:]:
        op, _, rest = line.partition(" ")
        op, rest = op.upper(), rest.strip()
        if op == "COPY":
            args = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
            chown = next((a.split("=", 1)[1] for a in args if a.startswith("--chown=")), "0:0")
            args = [a for a in args if not a.startswith("--")]
            *sources, dest = args
            for src in sources:
                full = os.path.join(REPO, src)
                if not os.path.isfile(full):
                    raise SystemExit(f"check-dockerfile: COPY source {src} is not a file (build it first)")
                target = (os.path.join(dest, os.path.basename(src)) if dest.endswith("/") else dest).lstrip("/")
                uid, _, gid = chown.partition(":")
                with open(full, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                files[target] = {"type": "file", "mode": oct(os.stat(full).st_mode & 0o7777),
                                 "uid": int(uid), "gid": int(gid or uid), "sha256": digest}
        elif op == "USER":
            config["User"] = rest
        elif op == "ENV":
            key, _, value = rest.partition("=") if "=" in rest.split()[0] else rest.partition(" ")  # one pair
            env = [e for e in env if not e.startswith(key + "=")] + [f"{key}={value.strip()}"]
        elif op in ("ENTRYPOINT", "CMD"):
            config["Cmd" if op == "CMD" else "Entrypoint"] = json.loads(rest)
        elif op in ("LABEL", "EXPOSE"):
            continue
        else:
            raise SystemExit(f"check-dockerfile: this check does not understand '{op}'; teach it")
    if not any(e.startswith("PATH=") for e in env):
        env = DEFAULT_ENV + env
    config["Env"] = env
    return config, files


def buildah_image(tmp):
    """Builds the Dockerfile with buildah; returns (config, files), or None when buildah cannot run here."""
    if not shutil.which("buildah"):
        log("installing buildah (apt-get)")
        for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "buildah"]):
            if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
                log("buildah could not be installed")
                return None
    base = ["buildah", "--root", f"{tmp}/root", "--runroot", f"{tmp}/runroot", "--storage-driver", "vfs"]
    tag = "localhost/mysqlinstance-operator-dockerfile:check"
    archive = f"{tmp}/dockerfile.tar"
    with open(f"{tmp}/buildah.log", "w") as out:
        for cmd in (base + ["bud", "--layers=false", "-f", f"{REPO}/Dockerfile", "-t", tag, REPO],
                    base + ["push", tag, f"oci-archive:{archive}:{tag}"]):
            if subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT).returncode:
                log(f"buildah failed: {' '.join(cmd)}\n{open(out.name).read()}")
                return None
        subprocess.run(base + ["rmi", "--all", "--force"], stdout=out, stderr=subprocess.STDOUT)
    names, config, files = oci.read_image(archive)
    return config.get("config", {}), files


def diff(label, want_config, want_files, got_config, got_files):
    """Differences of (got) from build.sh's image (want), one line each."""
    problems = []
    for key in CONFIG_KEYS:
        if want_config.get(key) != got_config.get(key):
            problems.append(f"{label}: config {key}: build.sh has {want_config.get(key)!r}, "
                            f"the Dockerfile gives {got_config.get(key)!r}")
    for path in sorted(set(want_files) | set(got_files)):
        want, got = want_files.get(path), got_files.get(path)
        if got is None:
            problems.append(f"{label}: /{path} is in build.sh's image only")
        elif want is None:
            problems.append(f"{label}: /{path} is in the Dockerfile's image only")
        else:
            for field in sorted(set(want) | set(got)):
                if want.get(field) != got.get(field):
                    problems.append(f"{label}: /{path} {field}: build.sh has {want.get(field)!r}, "
                                    f"the Dockerfile gives {got.get(field)!r}")
    return problems


def main():
    use_buildah = "--no-buildah" not in sys.argv[1:]
    log("building the operator image with tests/images/build.sh")
    archive = subprocess.run(["bash", f"{HERE}/build.sh", "operator"], stdout=subprocess.PIPE, check=True,
                             text=True).stdout.strip()
    names, config, want_files = oci.read_image(archive)
    want_config = config.get("config", {})
    log(f"build.sh: {names[0]}: {len(want_files)} file(s), config {json.dumps({k: want_config.get(k) for k in CONFIG_KEYS})}")

    problems = diff("parsed Dockerfile", want_config, want_files, *parse_dockerfile(f"{REPO}/Dockerfile"))
    checked = ["parsed Dockerfile"]
    if use_buildah:
        with tempfile.TemporaryDirectory(prefix="check-dockerfile.") as tmp:
            built = buildah_image(tmp)
            if built is None:
                log("buildah cannot build here: only the parsed Dockerfile was compared")
            else:
                problems += diff("buildah image", want_config, want_files, *built)
                checked.append("buildah image")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        log(f"FAIL: the Dockerfile and tests/images/build.sh disagree ({len(problems)} difference(s))")
        return 1
    log(f"ok: {' and '.join(checked)} match build.sh's {names[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
