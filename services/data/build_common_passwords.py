"""Rebuild common-passwords.txt from the lists two PyPI packages ship.

    pip download --no-deps django==5.2.8 zxcvbn==4.5.0 -d /tmp/wheels
    python services/data/build_common_passwords.py /tmp/wheels > services/data/common-passwords.txt

Django's `contrib/auth/common-passwords.txt.gz` (BSD licence; the 20,000 most common passwords
from Royce Williams's compilation) and zxcvbn's `frequency_lists.py` "passwords" list (MIT;
30,000 from Mark Burnett's Xato corpus). Union, lower-cased, one a line, sorted: the same
wheels always give the same file.
"""

from __future__ import annotations

import ast
import gzip
import sys
import zipfile
from pathlib import Path

DJANGO = "django-5.2.8-py3-none-any.whl"
ZXCVBN = "zxcvbn-4.5.0-py2.py3-none-any.whl"


def django_list(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        raw = archive.read("django/contrib/auth/common-passwords.txt.gz")
    return set(gzip.decompress(raw).decode().split())


def zxcvbn_list(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read("zxcvbn/frequency_lists.py").decode()
    # The module is one dict of comma-joined strings; read it without executing anything.
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "passwords":
                    # `"a,b,c".split(",")`: the list is the longest string in it.
                    joined = max(
                        (
                            n.value
                            for n in ast.walk(value)
                            if isinstance(n, ast.Constant) and isinstance(n.value, str)
                        ),
                        key=len,
                    )
                    return set(joined.split(","))
    raise SystemExit("zxcvbn: no FREQUENCY_LISTS literal found")


def main(wheels: Path) -> None:
    words = django_list(wheels / DJANGO) | zxcvbn_list(wheels / ZXCVBN)
    cleaned = sorted({word.strip().casefold() for word in words if word.strip()})
    sys.stdout.write("".join(f"{word}\n" for word in cleaned))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
