#!/usr/bin/env python3
"""Checks that the documentation's pointers resolve: markdown links (files and #anchors) in
README.md, docs/*.md, crates/**/*.md and scripts/**/*.md, and the `docs/X.md, 'Section'`
pointers written in code comments (the section must be a heading of that file).

Usage: python3 docs/check_links.py [repository root, default: the parent of this file's dir]
Exit status 1 when anything does not resolve."""
import os, re, sys, glob
root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
os.chdir(root)

def slug(h):
    h = h.strip().lower()
    h = re.sub(r'[^\w\- ]', '', h)   # GitHub: drop punctuation (keeps _ and -)
    return h.replace(' ', '-')

def anchors(path):
    out, seen = set(), {}
    in_code = False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            in_code = not in_code
            continue
        m = None if in_code else re.match(r'^(#+)\s+(.*)$', line)
        if m:
            s = slug(m.group(2))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
    return out

def headings(path):
    hs = set()
    in_code = False
    for line in open(path, encoding='utf-8'):
        if line.startswith('```'):
            in_code = not in_code; continue
        m = None if in_code else re.match(r'^#+\s+(.*)$', line)
        if m: hs.add(m.group(1).strip())
    return hs

bad = 0
mds = ['README.md'] + glob.glob('docs/*.md') + glob.glob('crates/**/*.md', recursive=True) + glob.glob('scripts/**/*.md', recursive=True)
for md in mds:
    text = open(md, encoding='utf-8').read()
    text_nocode = re.sub(r'```.*?```', '', text, flags=re.S)
    for m in re.finditer(r'\[[^\]]*\]\(([^)\s]+)\)', text_nocode):
        target = m.group(1)
        if re.match(r'^[a-z]+://', target) or target.startswith('mailto:'):
            continue
        path, _, frag = target.partition('#')
        full = os.path.normpath(os.path.join(os.path.dirname(md), path)) if path else md
        if not os.path.exists(full):
            print(f"{md}: missing file {target}"); bad += 1; continue
        if frag and full.endswith('.md') and frag not in anchors(full):
            print(f"{md}: missing anchor {target}"); bad += 1
# comment pointers: docs/X.md, 'Section' or "Section" (possibly across a line break)
files = [f for f in glob.glob('crates/**/*', recursive=True) + glob.glob('tests/**/*', recursive=True) + glob.glob('scripts/**/*', recursive=True) if os.path.isfile(f) and '/target/' not in f and f.endswith(('.rs', '.py', '.sh', '.md', '.toml'))]
n = 0
for f in files:
    text = open(f, encoding='utf-8', errors='replace').read()
    flat = re.sub(r'\n\s*(//[/!]?|#)?\s*', ' ', text)
    for m in re.finditer(r"docs/(\w+\.md)`?,\s*(?:see\s+)?['\"]([^'\"]+)['\"]", flat):
        doc, sect = m.group(1), m.group(2)
        n += 1
        hs = headings(os.path.join('docs', doc)) if os.path.exists(os.path.join('docs', doc)) else None
        if hs is None:
            print(f"{f}: pointer to missing docs/{doc}"); bad += 1
        elif sect not in hs:
            print(f"{f}: docs/{doc} has no section {sect!r}"); bad += 1
    for m in re.finditer(r"docs/(\w+\.md)", flat):
        if not os.path.exists(os.path.join('docs', m.group(1))):
            print(f"{f}: pointer to missing docs/{m.group(1)}"); bad += 1
print(f"{n} section pointers checked; {bad} problem(s)")
sys.exit(1 if bad else 0)
