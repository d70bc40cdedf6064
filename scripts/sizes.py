#!/usr/bin/python3
"""Checks the house limits on src/: no function over 60 lines, no file over
1,000 lines (STYLE.md). A function is counted from its opening brace in
column 0 to its closing brace in column 0, both included. Prints each
offender; exits 1 if there is any."""
import glob
import os
import re
import sys

FUNC_MAX = 60
FILE_MAX = 1000


def functions(lines):
    """(name, first line, length) of each function definition."""
    i = 0
    while i < len(lines):
        if lines[i] == "{" and i > 0:
            j = i + 1
            while j < len(lines) and lines[j] != "}":
                j += 1
            k = i - 1
            while k > 0 and "(" not in lines[k]:
                k -= 1
            m = re.search(r"(\w+)\s*\(", lines[k])
            yield (m.group(1) if m else "?"), k + 1, j - i + 1
            i = j
        i += 1


def main():
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    bad = 0
    for path in sorted(glob.glob("src/*/*.[ch]")):
        with open(path) as f:
            lines = f.read().split("\n")
        if len(lines) - 1 > FILE_MAX:
            print("%s: %d lines (limit %d)" % (path, len(lines) - 1, FILE_MAX))
            bad = 1
        for name, line, n in functions(lines):
            if n > FUNC_MAX:
                print("%s:%d: %s is %d lines (limit %d)"
                      % (path, line, name, n, FUNC_MAX))
                bad = 1
    if not bad:
        print("sizes: no function over %d lines, no file over %d"
              % (FUNC_MAX, FILE_MAX))
    return bad


if __name__ == "__main__":
    sys.exit(main())
