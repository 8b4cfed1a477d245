#!/usr/bin/env python3
"""The server crate's module graph, and the two rules it must keep.

Reads every `.rs` file under `server/src`, resolves each `crate::…`,
`super::…` and `self::…` path (in `use` trees and in expressions) to the
module file that defines it, and checks:

1. no import circle: among files, and among top-level modules (`relay`,
   `app`, `local_cluster`, …) taken whole;
2. no module imports from a module above it (`relay/dial.rs` must not take
   `RelayError` from `relay/mod.rs`; nothing imports from `lib.rs`): a
   parent composes its children, never the other way round.

Test modules (`#[cfg(test)] mod tests { … }`) are left out: they may use
anything. Exit status 1 with the offending edges named, 0 otherwise.

    scripts/module-graph.py            # check
    scripts/module-graph.py --dot      # print the graph (Graphviz)
    scripts/module-graph.py --self-test
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server", "src")


def module_files(root):
    """Maps module paths (tuples, () = crate root) to files."""
    modules = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            parts = rel[:-3].split(os.sep)
            if parts == ["lib"]:
                path = ()
            elif parts == ["main"]:
                continue  # the binary is its own crate: it uses the library from outside
            elif parts[-1] == "mod":
                path = tuple(parts[:-1])
            else:
                path = tuple(parts)
            modules[path] = rel
    return modules


def lex_away_literals(text):
    """Drops comments and empties string, raw string and char literals."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif (m := re.match(r'b?r(#*)"', text[i:])) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = text.find('"' + m.group(1), i + m.end())
            out.append('""')
            i = n if end < 0 else end + 1 + len(m.group(1))
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            out.append('""')
            i += 1
        elif c == "'" and (m := re.match(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]+\}|.)|[^\\'])'", text[i:], re.S)):
            out.append("' '")
            i += m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_tests_and_comments(text):
    """Removes comments, string literals and `#[cfg(test)]` items."""
    text = lex_away_literals(text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def expand_use_tree(tree):
    """`a::{b, c::{d, e}}` → [a::b, a::c::d, a::c::e] (without `as` renames)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree.strip())
    depth, start = 0, None
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                prefix, inner = tree[:start], tree[start + 1 : i]
                items, d, last = [], 0, 0
                for k, c in enumerate(inner):
                    d += {"{": 1, "}": -1}.get(c, 0)
                    if c == "," and d == 0:
                        items.append(inner[last:k])
                        last = k + 1
                items.append(inner[last:])
                out = []
                for item in items:
                    if item.strip():
                        for sub in expand_use_tree(item):
                            out.append(prefix + sub if sub != "self" else prefix.rstrip(":"))
                return out
    return [tree]


def paths_in(text):
    """Every `crate::`/`super::`/`self::` path a file names."""
    found = []
    for m in re.finditer(r"\buse\s+([^;]*);", text):
        found.extend(p for p in expand_use_tree(m.group(1)) if re.match(r"(crate|super|self)\b", p))
    body = re.sub(r"\buse\s+[^;]*;", "", text)
    found.extend(m.group(0) for m in re.finditer(r"\b(?:crate|super|self)(?:::\w+)+", body))
    return found


def resolve(path, here, modules):
    """The module a path points into: the longest module prefix."""
    segs = [s for s in path.split("::") if s]
    base = list(here)
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    else:
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    target = tuple(base)
    for seg in segs:
        if target + (seg,) in modules:
            target = target + (seg,)
        else:
            break
    return target


def graph(root):
    modules = module_files(root)
    edges = {}
    for mod, rel in modules.items():
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            text = strip_tests_and_comments(f.read())
        # `super::` in a file `a/b.rs` means `a`; in `a/mod.rs` too.
        for path in paths_in(text):
            target = resolve(path, mod, modules)
            if target != mod:
                edges.setdefault(mod, set()).add(target)
    return modules, edges


def cycles(nodes, edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    return out


def name(mod):
    return "::".join(("crate",) + mod)


def problems(modules, edges):
    found = []
    for comp in cycles(modules, edges):
        found.append("import circle among files: " + " ⇄ ".join(name(m) for m in comp))
    top = {}
    for src, dsts in edges.items():
        for dst in dsts:
            if src[:1] and dst[:1] and src[:1] != dst[:1]:
                top.setdefault(src[:1], set()).add(dst[:1])
    for comp in cycles({m[:1] for m in modules if m}, top):
        found.append("import circle among top-level modules: " + " ⇄ ".join(name(m) for m in comp))
    for src, dsts in sorted(edges.items()):
        for dst in sorted(dsts):
            if len(dst) < len(src) and src[: len(dst)] == dst:
                found.append(f"{name(src)} imports from the module above it, {name(dst)} ({modules[dst]})")
    return found


def self_test():
    assert expand_use_tree("crate::{a::b, c::{d, e as f}, g}") == ["crate::a::b", "crate::c::d", "crate::c::e", "crate::g"]
    assert expand_use_tree("super::{self, x}") == ["super", "super::x"]
    lexed = lex_away_literals('let a = r#"use crate::x;"#; let c = \'"\'; let l: &\'static str = "crate::y"; /* crate::z */')
    assert "crate::" not in lexed and "'static" in lexed, lexed
    mods = {(): "lib.rs", ("relay",): "relay/mod.rs", ("relay", "dial"): "relay/dial.rs", ("app",): "app/mod.rs"}
    assert resolve("super::RelayError", ("relay", "dial"), mods) == ("relay",)
    assert resolve("crate::relay::dial::dial", ("app",), mods) == ("relay", "dial")
    assert resolve("crate::Config", ("app",), mods) == ()
    text = strip_tests_and_comments('use crate::a; // crate::b\n#[cfg(test)]\nmod tests { use crate::c; }\nfn f() { crate::d::x(); }')
    assert paths_in(text) == ["crate::a", "crate::d::x"], paths_in(text)
    edges = {("relay", "dial"): {("relay",)}, ("app",): {("relay", "dial")}, ("relay",): {("app",)}}
    found = problems(mods, edges)
    assert any("module above" in p for p in found) and any("circle" in p for p in found), found
    print("module-graph self-test: ok")


def main():
    if "--self-test" in sys.argv:
        self_test()
        return 0
    modules, edges = graph(ROOT)
    if "--dot" in sys.argv:
        print("digraph server {")
        for src, dsts in sorted(edges.items()):
            for dst in sorted(dsts):
                print(f'  "{name(src)}" -> "{name(dst)}";')
        print("}")
        return 0
    found = problems(modules, edges)
    for p in found:
        print("module-graph:", p)
    n = sum(len(d) for d in edges.values())
    print(f"module-graph: {len(modules)} modules, {n} imports, {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
