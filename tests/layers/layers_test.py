#!/usr/bin/env python3
"""The layering of DESIGN.md, checked on every include: a folder is a layer and includes point
down (tools, capi -> sandbox -> {tcp, udp} -> {ipv4, ipv6} -> stack <- link). Examples are
embedders: they include only the installed public headers, <weir/weir.h> or <weir/weir.hpp>.
Usage: layers_test.py REPOSITORY_ROOT"""
import pathlib
import re
import sys

ALLOWED = {
    "stack": {"stack"},
    "link": {"stack", "link"},
    "ipv4": {"stack", "ipv4"},
    "ipv6": {"stack", "ipv6"},
    "udp": {"stack", "ipv4", "ipv6", "udp"},
    "tcp": {"stack", "ipv4", "ipv6", "tcp"},
    "sandbox": {"stack", "link", "ipv4", "ipv6", "udp", "tcp", "sandbox"},
    "capi": {"stack", "link", "ipv4", "ipv6", "udp", "tcp", "capi", "weir"},
    "tools": {"stack", "link", "ipv4", "ipv6", "udp", "tcp", "sandbox", "tools"},
}
PROJECT_INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]([a-z0-9_]+)/[^">]+[">]', re.M)
SOURCES = ("*.h", "*.cc", "*.c", "*.hpp", "*.cpp")


def files(folder):
    for pattern in SOURCES:
        yield from folder.rglob(pattern)


def main():
    root = pathlib.Path(sys.argv[1])
    problems = []
    checked = 0
    for layer, allowed in ALLOWED.items():
        for path in files(root / layer):
            checked += 1
            for target in PROJECT_INCLUDE.findall(path.read_text(errors="replace")):
                if target in ALLOWED and target not in allowed:
                    problems.append(f"{path.relative_to(root)}: {layer}/ includes {target}/")
    for path in files(root / "examples"):
        checked += 1
        for match in re.finditer(r'^\s*#\s*include\s+([<"][^">]+[">])', path.read_text(), re.M):
            name = match.group(1)[1:-1]
            top = name.split("/")[0]
            if top in ALLOWED or (top == "weir" and name not in ("weir/weir.h", "weir/weir.hpp")):
                problems.append(f"{path.relative_to(root)}: an example includes {name}, "
                                "not a public header (<weir/weir.h>, <weir/weir.hpp>)")
    for p in problems:
        print(p)
    print(f"{checked} files checked, {len(problems)} includes against the layering")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
