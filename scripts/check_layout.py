#!/usr/bin/python3
"""Layout checks for src/, run by scripts/lint (standard library only).

  file-size      no src/**/*.cpp or *.hpp is longer than MAX_FILE_LINES lines
  include-cycle  no cycle among `#include "..."` lines (Tarjan's strongly connected components)
  private        a header in PRIVATE_HEADERS is included only by the files named there
  layer          includes run one way, down LAYERS: a file in src/X/ includes files of its own
                 folder or of lower layers only; folders not in LAYERS and cycles between
                 folders are errors too

The graph's files are every file under src/ and include/, and its edges their quoted includes,
each resolved against src/ first, then the including file's folder, then include/ (quoted
includes that resolve to none of these, e.g. a library's, are not part of the graph).

Prints one line per violation, `path:line: check: message`, then a summary line, and exits 1
if there is any. `--counts FILE` also writes `check count` lines there (for scripts/lint).

  /usr/bin/python3 scripts/check_layout.py [--root DIR] [--counts FILE]
"""

import argparse
import collections
import os
import re
import sys
from pathlib import Path

# Layers, lowest first. A file in src/<layer>/ may include its own folder and lower layers only.
LAYERS = ["config", "policy", "runtime", "log", "net", "http", "proxy", "admin", "app"]
# Files directly in src/ (src/main.cpp).
TOP_LEVEL_LAYER = "app"
MAX_FILE_LINES = 400
SIZE_SUFFIXES = (".cpp", ".hpp")
GRAPH_SUFFIXES = (".cpp", ".hpp", ".h", ".ipp", ".inc")
CHECKS = ("file-size", "include-cycle", "layer", "private")
# Headers that only the named files may include (walls around what a library keeps private).
PRIVATE_HEADERS = {
    "src/net/asio_reach.hpp": {"src/net/read_readiness.hpp"},
}

INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def layer_of(root, rel):
    """The folder (layer name, or an unknown folder's name) a file belongs to, or None."""
    parts = Path(rel).parts
    if parts[0] == "src":
        return TOP_LEVEL_LAYER if len(parts) == 2 else parts[1]
    return None


def source_files(root, top, suffixes):
    base = root / top
    if not base.is_dir():
        return []
    return sorted(p.relative_to(root).as_posix() for p in base.rglob("*")
                  if p.is_file() and p.name.endswith(suffixes))


def quoted_includes(text):
    """(line number, included name) for each `#include "..."` outside block comments."""
    found = []
    in_comment = False
    for number, line in enumerate(text.splitlines(), 1):
        code = line
        if in_comment:
            end = code.find("*/")
            if end < 0:
                continue
            code = code[end + 2:]
            in_comment = False
        # Drop /* ... */ spans (and note an unterminated one) before matching.
        while True:
            start = code.find("/*")
            if start < 0:
                break
            end = code.find("*/", start + 2)
            if end < 0:
                code = code[:start]
                in_comment = True
                break
            code = code[:start] + " " + code[end + 2:]
        match = INCLUDE_RE.match(code)
        if match:
            found.append((number, match.group(1)))
    return found


def resolve(root, includer, name):
    """Repository-relative path of a quoted include, or None if it is not in the repository."""
    for base in (root / "src", (root / includer).parent, root / "include"):
        candidate = Path(os.path.normpath(base / name))
        if candidate.is_file():
            try:
                return candidate.relative_to(root).as_posix()
            except ValueError:  # ../ out of the repository
                return None
    return None


class Graph:
    def __init__(self, root):
        self.root = root
        self.files = source_files(root, "src", GRAPH_SUFFIXES) + \
            source_files(root, "include", GRAPH_SUFFIXES)
        self.text = {f: (root / f).read_text(encoding="utf-8", errors="replace")
                     for f in self.files}
        # edges[a] = [(line, name as written, resolved path)]
        self.edges = {}
        for f in self.files:
            self.edges[f] = []
            for line, name in quoted_includes(self.text[f]):
                target = resolve(root, f, name)
                if target is not None:
                    self.edges[f].append((line, name, target))
                    self.edges.setdefault(target, [])

    def successors(self, node):
        return [target for _, _, target in self.edges.get(node, [])]


def tarjan(nodes, successors):
    """Strongly connected components (iterative Tarjan), each a sorted list."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(successors(start)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(successors(child))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def shortest_cycle(start, members, successors):
    """Shortest path start -> ... -> start inside one component (breadth first)."""
    members = set(members)
    previous = {}
    queue = collections.deque([start])
    seen = set()
    while queue:
        node = queue.popleft()
        for child in sorted(set(successors(node))):
            if child not in members:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return list(reversed(path)) + [start]
            if child not in seen:
                seen.add(child)
                previous[child] = node
                queue.append(child)
    return [start, start]


def cyclic_components(nodes, successors):
    for component in tarjan(nodes, successors):
        if len(component) > 1 or component[0] in successors(component[0]):
            yield component


class Report:
    def __init__(self):
        self.lines = []
        self.counts = {check: 0 for check in CHECKS}

    def add(self, check, path, line, message):
        self.lines.append((check, path, line, f"{path}:{line}: {check}: {message}"))
        self.counts[check] += 1


def check_file_sizes(root, report):
    for f in source_files(root, "src", SIZE_SUFFIXES):
        count = len((root / f).read_text(encoding="utf-8", errors="replace").splitlines())
        if count > MAX_FILE_LINES:
            report.add("file-size", f, MAX_FILE_LINES + 1,
                       f"{count} lines (limit {MAX_FILE_LINES}); split it")


def check_include_cycles(graph, report):
    nodes = sorted(graph.edges)
    for component in cyclic_components(nodes, graph.successors):
        cycle = shortest_cycle(component[0], component, graph.successors)
        line = next(l for l, _, t in graph.edges[cycle[0]] if t == cycle[1])
        if len(component) == 1:
            message = f"{cycle[0]} includes itself"
        else:
            message = f"{len(component)} files include each other: " + " -> ".join(cycle)
        if len(component) > len(cycle) - 1:
            message += "; all files of the cycle: " + ", ".join(component)
        report.add("include-cycle", cycle[0], line, message)


def check_layers(graph, report):
    root = graph.root
    rank = {name: i for i, name in enumerate(LAYERS)}
    layers = {f: layer_of(root, f) for f in graph.edges}

    unknown = collections.Counter(layers[f] for f in graph.edges
                                  if f.startswith("src/") and layers[f] not in rank)
    for folder, count in sorted(unknown.items()):
        report.add("layer", f"src/{folder}/", 0,
                   f"folder not in the layer table ({count} files): add '{folder}' to LAYERS "
                   f"in scripts/check_layout.py or move its files into "
                   + ", ".join(LAYERS))

    # Includes of a higher layer, and the folder graph for its cycles.
    folder_edges = collections.defaultdict(dict)  # a -> {b: first (file, line)}
    for f in sorted(graph.edges):
        for line, name, target in graph.edges[f]:
            mine, theirs = layers[f], layers[target]
            if mine is None or theirs is None or mine == theirs:
                continue
            folder_edges[mine].setdefault(theirs, (f, line))
            if mine in rank and theirs in rank and rank[theirs] > rank[mine]:
                allowed = ", ".join(LAYERS[:rank[mine] + 1])
                report.add("layer", f, line,
                           f'"{name}" ({target}) is layer {theirs}, above {mine}; '
                           f"{mine} may include only {allowed}")

    folders = sorted(set(folder_edges) | {b for e in folder_edges.values() for b in e})
    successors = lambda folder: sorted(folder_edges.get(folder, {}))
    for component in cyclic_components(folders, successors):
        cycle = shortest_cycle(component[0], component, successors)
        steps = [f"{a} -> {b} at {':'.join(map(str, folder_edges[a][b]))}"
                 for a, b in zip(cycle, cycle[1:])]
        path, line = folder_edges[cycle[0]][cycle[1]]
        message = "folders include each other: " + " -> ".join(cycle) + " (" + "; ".join(steps) + ")"
        if len(component) > len(cycle) - 1:
            message += "; all folders of the cycle: " + ", ".join(component)
        report.add("layer", path, line, message)


def check_private(graph, report):
    for f in sorted(graph.edges):
        for line, name, target in graph.edges[f]:
            allowed = PRIVATE_HEADERS.get(target)
            if allowed is not None and f not in allowed:
                report.add("private", f, line,
                           f'"{name}" is private to {", ".join(sorted(allowed))}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent, type=Path)
    parser.add_argument("--counts", type=Path, help="also write `check count` lines here")
    args = parser.parse_args()
    root = args.root.resolve()

    report = Report()
    check_file_sizes(root, report)
    graph = Graph(root)
    check_include_cycles(graph, report)
    check_layers(graph, report)
    check_private(graph, report)

    order = {check: i for i, check in enumerate(CHECKS)}
    for _, _, _, text in sorted(report.lines, key=lambda r: (order[r[0]], r[1], r[2])):
        print(text)
    if args.counts:
        args.counts.write_text("".join(f"{c} {n}\n" for c, n in report.counts.items()))
    else:
        total = sum(report.counts.values())
        print(("layout: FAIL: " if total else "layout: ok: ")
              + ", ".join(f"{c} {n}" for c, n in report.counts.items()))
    return 1 if any(report.counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
