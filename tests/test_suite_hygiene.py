"""Tests of the tests: no assertion compares a value with itself (``x == x`` passes whatever x
is, and ``x != x`` is a NaN check better written ``math.isnan(x)``)."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def self_comparisons(source: str) -> list[str]:
    """``line: expression`` of every comparison in ``source`` with the same expression on two
    sides (chained ones included: ``a == b == a``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [ast.dump(e) for e in [node.left, *node.comparators]]
            if len(set(sides)) < len(sides):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_check_finds_a_comparison_of_a_value_with_itself():
    source = 'assert s["bpp"] == s["bpp"]\nassert a == b == a\nassert a < b and x != x\n'
    assert self_comparisons(source) == ["1: s['bpp'] == s['bpp']", "2: a == b == a", "3: x != x"]
    assert self_comparisons('assert a["bpp"] == b["bpp"]\nassert f(1) == f(2)\n') == []


def test_no_test_compares_a_value_with_itself():
    found = [
        f"{path.name}:{hit}"
        for path in sorted(TESTS.rglob("*.py"))
        for hit in self_comparisons(path.read_text())
    ]
    assert found == []
