"""Secrets are compared in constant time (issue 17, item 6): no `==`/`!=` in services/ or
transport/ with an operand whose name says it holds a secret (a digest, signature, token, code,
password, hash, secret, MAC, challenge or binding), unless the other side is None, a literal or a
len(); those go through hmac.compare_digest. What is allowed otherwise is listed with its reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("services", "transport")

# A word of the name (snake_case or camelCase parts), so `token_hash` and `expectedDigest`
# count and `encode_cursor` or `machine` do not.
SECRET_WORDS = re.compile(
    r"(?:^|_)(digest|signature|token|code|password|hash|secret|mac|challenge|binding|otp|nonce)s?(?:_|$)",
    re.IGNORECASE,
)


def words(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)


# "path:line text" -> why that comparison is not of a secret. Empty today: every comparison the
# check finds goes through hmac.compare_digest. An entry needs its reason.
ALLOWED: dict[str, str] = {}


def operand_name(node: ast.expr) -> str:
    """The name a reader sees for an operand: `x`, `a.b`'s `b`, `f(...)`'s `f`, `x[0]`'s `x`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call):
        return operand_name(node.func)
    if isinstance(node, ast.Subscript):
        return operand_name(node.value)
    if isinstance(node, ast.Await):
        return operand_name(node.value)
    return ""


def is_public(node: ast.expr) -> bool:
    """None, a literal (or a tuple of literals), a len(), a number: nothing secret to leak."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.UnaryOp):
        return is_public(node.operand)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return all(is_public(element) for element in node.elts)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id == "len"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        # An enum member or a module constant in capitals (LinkPurpose.RESET_PASSWORD).
        return node.attr.isupper()
    return isinstance(node, ast.Name) and node.id.isupper()


def secret_comparisons(source: str, path: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands[:-1], operands[1:], strict=True):
            if not isinstance(op, ast.Eq | ast.NotEq):
                continue
            if is_public(left) or is_public(right):
                continue
            if any(SECRET_WORDS.search(words(operand_name(side))) for side in (left, right)):
                line = source.splitlines()[node.lineno - 1].strip()
                found.append(f"{path}:{node.lineno} {line}")
    return found


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_the_check_finds_a_compare_digest_turned_into_equality() -> None:
    source = (
        "import hmac\n"
        "def check(expected_digest, answer):\n"
        "    return hmac.compare_digest(expected_digest, answer)\n"
    )
    assert secret_comparisons(source, "x.py") == []
    broken = source.replace(
        "hmac.compare_digest(expected_digest, answer)", "expected_digest == answer"
    )
    assert secret_comparisons(broken, "x.py") == ["x.py:3 return expected_digest == answer"]
    assert secret_comparisons("a = signature != candidate(x)\n", "y.py") != []
    assert secret_comparisons("a = row.token_hash == digest\n", "y.py") != []
    # Compared with something public: nothing to leak.
    public = "a = token is None or code == '' or len(digest) == 64 or code != CODE_KIND\n"
    assert secret_comparisons(public, "z.py") == []
    # Names that only contain such a word: not secrets.
    assert secret_comparisons("a = encode_cursor(pk) != cursor or machine == other\n", "z.py") == []
    assert secret_comparisons("a = expectedDigest == answer\n", "z.py") != []


@pytest.mark.parametrize("path", modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_secrets_are_compared_in_constant_time(path: Path) -> None:
    relative = str(path.relative_to(ROOT))
    found = secret_comparisons(path.read_text(), relative)
    assert [entry for entry in found if entry not in ALLOWED] == []
