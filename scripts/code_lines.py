"""Print the code lines of ``src/``: lines that are not blank, comments or docstrings.

Usage: ``python scripts/code_lines.py [ROOT]`` (default ``src``). Prints one line per
package folder (code lines, then all lines) and the totals; ``--modules`` lists every
module instead.
"""

from __future__ import annotations

import argparse
import ast
import io
import tokenize
from pathlib import Path


def docstring_lines(tree: ast.AST) -> set[int]:
    """Return the line numbers taken by module, class and function docstrings.

    Parameters
    ----------
    tree : ast.AST
        A parsed module.

    Returns
    -------
    set of int
        One-based line numbers of every docstring.
    """
    lines: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(
            node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            continue
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            first = body[0]
            lines.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    return lines


def code_lines(source: str) -> int:
    """Count the lines of ``source`` that hold code.

    Parameters
    ----------
    source : str
        Python source text.

    Returns
    -------
    int
        Lines with at least one token that is not a comment, a newline or part
        of a docstring.
    """
    skip = docstring_lines(ast.parse(source))
    counted: set[int] = set()
    ignored = {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
    }
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in ignored:
            continue
        for line in range(token.start[0], token.end[0] + 1):
            if line not in skip:
                counted.add(line)
    return len(counted)


def main() -> None:
    """Print code and physical lines per package (or per module) and the totals."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="src", type=Path)
    parser.add_argument("--modules", action="store_true", help="one line per module")
    args = parser.parse_args()
    counts: dict[str, list[int]] = {}
    files = sorted(args.root.rglob("*.py"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(args.root)
        key = str(rel) if args.modules else str(rel.parent if len(rel.parts) > 2 else rel)
        code, total = counts.setdefault(key, [0, 0])
        counts[key] = [code + code_lines(text), total + len(text.splitlines())]
    print(f"{'code':>7}  {'lines':>7}  path")
    for key, (code, total) in sorted(counts.items()):
        print(f"{code:7d}  {total:7d}  {key}")
    code = sum(c for c, _ in counts.values())
    total = sum(t for _, t in counts.values())
    print(f"{code:7d}  {total:7d}  total ({len(files)} modules)")


if __name__ == "__main__":
    main()
