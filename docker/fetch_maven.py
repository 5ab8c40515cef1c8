"""Fetch Maven Central artifacts into a directory, each checked against the .sha1 published beside it.

The one download step of every image that carries jars (docker/Dockerfile's Spark image, the Nessie
stand-in): `python3 fetch_maven.py DEST GROUP:ARTIFACT:VERSION[:jar:CLASSIFIER] ...`, Maven's own
coordinates, as lake_tools.jars writes them for `mvn dependency:copy`.
The standard library only, so it runs in any image with a Python; the versions come from the Dockerfile's
build arguments, which tests/docker checks against lake_tools.jars (the one place they are pinned).
"""

import hashlib
import sys
import urllib.request
from pathlib import Path

REPOSITORY = "https://repo1.maven.org/maven2"


def fetch(destination: Path, coordinates: str) -> Path:
    group, artifact, version, *packaging_classifier = coordinates.split(":")
    classifier = packaging_classifier[1:]
    name = f"{artifact}-{version}{''.join('-' + c for c in classifier)}.jar"
    url = f"{REPOSITORY}/{group.replace('.', '/')}/{artifact}/{version}/{name}"
    # S310: the URL is always REPOSITORY's https address, never a caller's scheme.
    expected = urllib.request.urlopen(url + ".sha1", timeout=60).read().decode().split()[0]  # noqa: S310
    target = destination / name
    digest = hashlib.sha1()  # noqa: S324 - Maven Central publishes SHA-1 beside every artifact
    with urllib.request.urlopen(url, timeout=600) as response, target.open("wb") as out:  # noqa: S310
        for block in iter(lambda: response.read(1 << 20), b""):
            digest.update(block)
            out.write(block)
    if digest.hexdigest() != expected:
        target.unlink()
        raise SystemExit(f"error: {name}: SHA-1 {digest.hexdigest()} is not the published {expected}")
    target.chmod(0o644)
    return target


if __name__ == "__main__":
    destination = Path(sys.argv[1])
    destination.mkdir(parents=True, exist_ok=True)
    for coordinates in sys.argv[2:]:
        print(f"{fetch(destination, coordinates).name}: verified")
