#!/usr/bin/env python3
"""Import cycles between the modules of one Rust crate (files under its src/).

Copied from the team's shared tools so CI runs it from this repository (`make cycles`).

Reads every `use crate::…`, `use super::…`, `use self::…` tree and every inline `crate::a::b`
path, maps each to the file that defines the module, and prints the strongly connected groups
of files. A child module reaching into its own parent (`super::` from a/b.rs to a/mod.rs) is
idiomatic Rust and not counted. Usage: rust_cycles.py SRC_DIR  → last line "cycles: N".
"""
import os
import re
import sys


def module_files(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel in (["lib"], ["main"]):
                rel = []
            mods[tuple(rel)] = p
    return mods


def strip_tests(text):
    # Drop `#[cfg(test)] mod … { … }` blocks: tests may import freely.
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e}}` → ['a::b', 'a::c::d', 'a::c::e']."""
    tree = tree.strip()
    if "{" not in tree:
        return [tree]
    head, rest = tree.split("{", 1)
    body = rest.rsplit("}", 1)[0]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            for e in expand(p):
                out.append(head + e.strip())
    return out


def resolve(path, here, mods):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] == "super":
        base = list(here)
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
    elif segs[0] == "self":
        base, segs = list(here), segs[1:]
    else:
        return None
    best = tuple(base) if tuple(base) in mods else None
    cur = list(base)
    for s in segs:
        s = s.split(" as ")[0].strip()
        cur.append(s)
        if tuple(cur) in mods:
            best = tuple(cur)
        else:
            break
    return best


def graph(src):
    mods = module_files(src)
    edges = {m: set() for m in mods}
    for mod, path in mods.items():
        # Paths resolve from the file's module: in a/b.rs `super` is a, in a/mod.rs a's parent.
        text = strip_tests(open(path, encoding="utf-8").read())
        text = re.sub(r"//[^\n]*", "", text)
        paths = []
        for m in re.finditer(r"\buse\s+((?:crate|super|self)::[^;]+);", text, re.S):
            paths += expand(re.sub(r"\s+", " ", m.group(1)))
        for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text):
            paths.append(m.group(1))
        # Bare paths into a child declared here (`mod steps;` … `steps::process`).
        for m in re.finditer(r"\bmod\s+(\w+)\s*;", text):
            child = tuple(mod) + (m.group(1),)
            if child in mods and re.search(r"\b" + m.group(1) + r"::", text):
                edges[mod].add(child)
        for p in paths:
            target = resolve(p, mod, mods)
            if target is None or target == mod:
                continue
            # A child reaching its own ancestor is idiomatic and allowed.
            if len(target) < len(mod) and mod[: len(target)] == target:
                continue
            edges[mod].add(target)
    return mods, edges


def sccs(nodes, edges):
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "functions/crm/src"
    mods, edges = graph(src)
    cycles = sccs(list(mods), edges)
    for c in cycles:
        names = sorted("::".join(m) or "crate" for m in c)
        print("cycle: " + " <-> ".join(names))
    print(f"cycles: {len(cycles)}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
