#!/usr/bin/env python3
"""Lists the public API of a crate (the library, or its testkit) from rustdoc's JSON output
(`cargo rustdoc --lib --all-features -- -Z unstable-options --output-format json`): every
public path a user can name, with function signatures, fields, variants and trait impls,
one line each, sorted. `.ci/public-api.sh` diffs it against `public-api.txt`."""
import json
import sys

doc = json.load(open(sys.argv[1]))
index = doc["index"]
out = set()


def item(i):
    return index.get(str(i))


def path_args(args):
    if not args:
        return ""
    if "angle_bracketed" in args:
        ab = args["angle_bracketed"]
        parts = []
        for a in ab.get("args", []):
            if "type" in a:
                parts.append(ty(a["type"]))
            elif "lifetime" in a:
                parts.append(a["lifetime"])
            elif "const" in a:
                parts.append(str(a["const"].get("expr", "_")))
        for c in ab.get("constraints", []):
            binding = c.get("binding", {})
            if "equality" in binding:
                eq = binding["equality"]
                parts.append(f'{c["name"]} = {ty(eq["type"]) if "type" in eq else "_"}')
            elif "constraint" in binding:
                parts.append(f'{c["name"]}: {bounds(binding["constraint"])}')
        return "<" + ", ".join(parts) + ">" if parts else ""
    if "parenthesized" in args:
        p = args["parenthesized"]
        r = f'({", ".join(ty(t) for t in p.get("inputs", []))})'
        if p.get("output"):
            r += " -> " + ty(p["output"])
        return r
    return ""


def rpath(p):
    return p.get("path", p.get("name", "?")) + path_args(p.get("args"))


def bounds(bs):
    r = []
    for b in bs:
        if "trait_bound" in b:
            r.append(rpath(b["trait_bound"]["trait"]))
        elif "outlives" in b:
            r.append(b["outlives"])
        else:
            r.append("?")
    return " + ".join(r)


def ty(t):
    if t is None:
        return "()"
    if isinstance(t, str):
        return t
    k, v = next(iter(t.items()))
    if k == "resolved_path":
        return rpath(v)
    if k in ("generic", "primitive"):
        return v
    if k == "borrowed_ref":
        lt = (v.get("lifetime") + " ") if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v.get("is_mutable") else "") + ty(v["type"])
    if k == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if k == "slice":
        return "[" + ty(v) + "]"
    if k == "array":
        return "[" + ty(v["type"]) + "; " + str(v["len"]) + "]"
    if k == "impl_trait":
        return "impl " + bounds(v)
    if k == "dyn_trait":
        return "dyn " + " + ".join(rpath(x["trait"]) for x in v["traits"])
    if k == "qualified_path":
        return f'<{ty(v["self_type"])} as {rpath(v["trait"]) if v.get("trait") else "?"}>::{v["name"]}'
    if k == "raw_pointer":
        return ("*mut " if v.get("is_mutable") else "*const ") + ty(v["type"])
    if k == "function_pointer":
        return "fn(..)"
    return k


def generics(g):
    ps = []
    for p in (g or {}).get("params", []):
        kind = p.get("kind", {})
        if "lifetime" in kind:
            ps.append(p["name"])
        elif "type" in kind:
            if kind["type"].get("is_synthetic"):
                continue
            b = bounds(kind["type"].get("bounds", []))
            ps.append(p["name"] + (": " + b if b else ""))
        elif "const" in kind:
            ps.append("const " + p["name"])
    return "<" + ", ".join(ps) + ">" if ps else ""


def sig(name, f):
    h = f.get("header", {})
    pre = ("const " if h.get("is_const") else "") + ("async " if h.get("is_async") else "") + ("unsafe " if h.get("is_unsafe") else "")
    s = f["sig"]
    ins = ", ".join(n if n == "self" and False else f"{n}: {ty(t)}" for n, t in s["inputs"])
    ins = ins.replace("self: &Self", "&self").replace("self: &mut Self", "&mut self").replace("self: Self", "self")
    r = f"{pre}fn {name}{generics(f.get('generics'))}({ins})"
    if s.get("output"):
        r += " -> " + ty(s["output"])
    return r


def public(it):
    return it.get("visibility") == "public"


seen_modules = set()


def walk_module(mid, prefix):
    if (mid, prefix) in seen_modules:
        return
    seen_modules.add((mid, prefix))
    m = item(mid)
    for child in m["inner"]["module"]["items"]:
        it = item(child)
        if it is None or not public(it):
            continue
        emit(it, prefix)


def emit(it, prefix, name=None):
    name = name or it.get("name")
    inner = it["inner"]
    kind = next(iter(inner))
    path = f"{prefix}::{name}"
    if kind == "module":
        out.add(f"pub mod {path}")
        walk_module(it["id"], path)
    elif kind == "use":
        u = inner["use"]
        target = item(u["id"]) if u.get("id") is not None else None
        if u.get("is_glob"):
            if target and "module" in target["inner"]:
                for child in target["inner"]["module"]["items"]:
                    c = item(child)
                    if c and public(c):
                        emit(c, prefix)
            return
        if target is None:
            out.add(f"pub use {path} = {u['source']}")
        else:
            emit(target, prefix, u["name"])
    elif kind == "struct":
        s = inner["struct"]
        out.add(f"pub struct {path}{generics(s.get('generics'))}")
        sk = s.get("kind", {})
        fields = sk.get("plain", {}).get("fields", []) if isinstance(sk, dict) else []
        for fid in fields:
            f = item(fid)
            if f and public(f):
                out.add(f"pub struct field {path}::{f['name']}: {ty(f['inner']['struct_field'])}")
        impls(path, s.get("impls", []))
    elif kind == "enum":
        e = inner["enum"]
        out.add(f"pub enum {path}{generics(e.get('generics'))}")
        for vid in e.get("variants", []):
            v = item(vid)
            if v:
                out.add(f"pub enum variant {path}::{v['name']}")
        impls(path, e.get("impls", []))
    elif kind == "trait":
        t = inner["trait"]
        out.add(f"pub trait {path}{generics(t.get('generics'))}")
        for mid in t.get("items", []):
            m = item(mid)
            if not m:
                continue
            mk = next(iter(m["inner"]))
            if mk == "function":
                out.add(f"trait fn {path}::{sig(m['name'], m['inner']['function'])}")
            elif mk == "assoc_type":
                out.add(f"trait type {path}::{m['name']}")
            elif mk == "assoc_const":
                out.add(f"trait const {path}::{m['name']}")
    elif kind == "function":
        out.add(f"pub fn {prefix}::{sig(name, inner['function'])}")
    elif kind == "constant":
        c = inner["constant"]
        out.add(f"pub const {path}: {ty(c.get('type'))}")
    elif kind == "static":
        out.add(f"pub static {path}: {ty(inner['static'].get('type'))}")
    elif kind == "type_alias":
        out.add(f"pub type {path} = {ty(inner['type_alias'].get('type'))}")
    elif kind in ("macro", "proc_macro"):
        out.add(f"pub macro {path}!")
    else:
        out.add(f"pub {kind} {path}")


def impls(path, ids):
    for iid in ids:
        im = item(iid)
        if not im:
            continue
        i = im["inner"]["impl"]
        if i.get("is_synthetic") or i.get("blanket_impl") is not None:
            continue
        if i.get("trait") is None:
            for mid in i.get("items", []):
                m = item(mid)
                if m and public(m) and "function" in m["inner"]:
                    out.add(f"pub fn {path}::{sig(m['name'], m['inner']['function'])}")
                elif m and public(m) and "assoc_const" in m["inner"]:
                    out.add(f"pub const {path}::{m['name']}")
        else:
            tr = rpath(i["trait"])
            # Auto traits and the derives everyone has are noise; the rest is API.
            if tr.split("<")[0] in ("Send", "Sync", "Unpin", "UnwindSafe", "RefUnwindSafe", "Freeze"):
                continue
            out.add(f"impl {tr} for {path}")


root = item(doc["root"])
walk_module(doc["root"], root["name"])
print("\n".join(sorted(out)))
