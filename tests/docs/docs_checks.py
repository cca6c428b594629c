"""Checks for the project's Markdown documents.

Each check is a small pure function that takes a document's text (and whatever it needs
to know about the repository) and returns a list of `Problem`s; an empty list means the
document passes. The tests in test_docs.py run them over docs/ and README.md, and also
feed them small broken examples to prove that each check can fail.

Markdown is read with a deliberately small line-based model (CommonMark fences, ATX and
setext headings, inline and reference links, code spans): enough for these checks, with
no dependency beyond PyYAML.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple
from urllib.parse import unquote


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Problem:
    """One finding: where it is and what is wrong."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return "%s:%d: %s" % (self.path, self.line, self.message)


def format_problems(problems: Iterable[Problem]) -> str:
    """One problem per line, for assertion messages."""
    return "\n".join(str(p) for p in problems)


# --------------------------------------------------------------------------- fences

# Any indentation: fences nested in list items are indented by the item's width.
_FENCE_OPEN = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")


@dataclass(frozen=True)
class Fence:
    """A fenced code block. Lines are 1-based; `end` is None when the fence never closes."""

    info: str
    start: int
    end: Optional[int]
    body: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def language(self) -> str:
        return self.info.split()[0].lower() if self.info.split() else ""


def parse_fences(text: str) -> List[Fence]:
    """Every fenced code block of `text`, in order (CommonMark rules for the closing fence)."""
    fences: List[Fence] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE_OPEN.match(lines[index])
        if not match or (match.group(2)[0] == "`" and "`" in match.group(3)):
            index += 1
            continue
        marker = match.group(2)
        closing = re.compile(r"^\s*%s{%d,}\s*$" % (re.escape(marker[0]), len(marker)))
        start = index + 1
        body: List[str] = []
        index += 1
        end: Optional[int] = None
        while index < len(lines):
            if closing.match(lines[index]):
                end = index + 1
                break
            body.append(lines[index])
            index += 1
        fences.append(Fence(match.group(3).strip(), start, end, tuple(body)))
        index += 1
    return fences


def prose_lines(text: str) -> List[Tuple[int, str]]:
    """(line number, line) for every line outside fenced code blocks and front matter."""
    inside: Set[int] = set()
    for fence in parse_fences(text):
        last = fence.end if fence.end is not None else len(text.splitlines())
        inside.update(range(fence.start, last + 1))
    lines = text.splitlines()
    skip_front = _front_matter_length(lines)
    return [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if number not in inside and number > skip_front
    ]


def _front_matter_length(lines: List[str]) -> int:
    """Number of lines taken by a leading YAML front matter block (0 when there is none)."""
    if not lines or lines[0].strip() != "---":
        return 0
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() in ("---", "..."):
            return number
    return 0


def check_fences_closed(path: str, text: str) -> List[Problem]:
    """Every fenced code block is closed."""
    return [
        Problem(path, fence.start, "code fence opened here is never closed")
        for fence in parse_fences(text)
        if fence.end is None
    ]


# --------------------------------------------------------------------------- code spans

_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def code_spans(text: str) -> List[Tuple[int, str]]:
    """(line number, content) of every inline code span outside fenced blocks."""
    spans: List[Tuple[int, str]] = []
    for number, line in prose_lines(text):
        spans.extend((number, m.group(2).strip()) for m in _CODE_SPAN.finditer(line))
    return spans


def _without_code_spans(line: str) -> str:
    return _CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


# --------------------------------------------------------------------------- headings

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HTML_ANCHOR = re.compile(r"<a\s+[^>]*(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


def headings(text: str) -> List[Tuple[int, str]]:
    """(line number, heading text) of every ATX and setext heading outside code blocks."""
    found: List[Tuple[int, str]] = []
    previous: Optional[Tuple[int, str]] = None
    for number, line in prose_lines(text):
        atx = _ATX.match(line)
        if atx:
            found.append((number, atx.group(2)))
            previous = None
            continue
        setext = _SETEXT.match(line)
        if setext and previous and previous[0] == number - 1 and previous[1].strip():
            if not _is_block_start(previous[1]):
                found.append(previous)
            previous = None
            continue
        previous = (number, line)
    return found


def _is_block_start(line: str) -> bool:
    """Lines that cannot be the text of a setext heading (lists, quotes, tables, rules)."""
    stripped = line.strip()
    return bool(re.match(r"^([-*+>|]|\d+[.)]\s)", stripped))


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower-cased, punctuation removed,
    spaces turned into hyphens (no collapsing), Unicode letters and digits kept."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links and images -> text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "").replace("*", "").replace("~", "")
    slug_chars: List[str] = []
    for char in text.strip().lower():
        category = unicodedata.category(char)
        if char in ("-", "_") or category[0] in ("L", "N") or category == "Mn":
            slug_chars.append(char)
        elif char == " ":
            slug_chars.append("-")
    return "".join(slug_chars)


def anchors(text: str) -> Set[str]:
    """Every anchor a document offers: heading slugs (duplicates numbered -1, -2, ... as on
    GitHub) and explicit <a name=...>/<a id=...> anchors."""
    seen: Dict[str, int] = {}
    result: Set[str] = set()
    for _, heading in headings(text):
        slug = github_slug(heading)
        if slug in seen:
            seen[slug] += 1
            result.add("%s-%d" % (slug, seen[slug]))
        else:
            seen[slug] = 0
            result.add(slug)
    for _, line in prose_lines(text):
        result.update(m.group(1) for m in _HTML_ANCHOR.finditer(line))
    return result


# --------------------------------------------------------------------------- links

_INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_HTML_HREF = re.compile(r"<(?:a|img)\s[^>]*(?:href|src)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Link:
    line: int
    target: str


def links(text: str) -> List[Link]:
    """Every link and image target outside code: inline, reference definitions, HTML."""
    found: List[Link] = []
    for number, raw in prose_lines(text):
        line = _without_code_spans(raw)
        for pattern in (_INLINE_LINK, _HTML_HREF):
            found.extend(Link(number, m.group(1).strip("<>")) for m in pattern.finditer(line))
        definition = _REFERENCE_DEFINITION.match(line)
        if definition:
            found.append(Link(number, definition.group(1).strip("<>")))
    return found


def is_external(target: str) -> bool:
    """URLs with a scheme (https:, mailto:, ...) or protocol-relative ones are not checked."""
    return bool(_SCHEME.match(target)) or target.startswith("//")


def resolve_link(source: Path, target: str, root: Path) -> Tuple[Path, str]:
    """The file a relative link points to and its anchor ('' when none). A leading slash
    means the repository root, as on GitHub."""
    path_part, _, anchor = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    if not path_part:
        return source.resolve(), anchor
    base = root if path_part.startswith("/") else source.parent
    return (base / path_part.lstrip("/")).resolve(), anchor


def check_links(path: Path, text: str, root: Path, display: Optional[str] = None) -> List[Problem]:
    """Every relative link resolves to an existing file or directory inside the repository,
    and every #anchor into a Markdown file names one of its headings."""
    name = display or str(path)
    problems: List[Problem] = []
    cache: Dict[Path, Set[str]] = {}
    for link in links(text):
        if not link.target or is_external(link.target):
            continue
        target, anchor = resolve_link(path, link.target, root)
        if not _inside(target, root):
            problems.append(Problem(name, link.line, "link %r leaves the repository" % link.target))
        elif not target.exists():
            problems.append(Problem(name, link.line, "link %r: no such file" % link.target))
        elif anchor and target.is_file() and target.suffix.lower() == ".md":
            if target not in cache:
                own = target == path.resolve()
                cache[target] = anchors(text if own else target.read_text(encoding="utf-8"))
            if unquote(anchor) not in cache[target]:
                problems.append(Problem(name, link.line, "link %r: no heading with anchor #%s" % (link.target, anchor)))
    return problems


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- mermaid

DIRECTIONS = ("TB", "TD", "BT", "RL", "LR")
MERMAID_TYPES = (
    "sequenceDiagram", "classDiagram", "classDiagram-v2", "stateDiagram", "stateDiagram-v2",
    "erDiagram", "journey", "gantt", "pie", "quadrantChart", "requirementDiagram", "gitGraph",
    "mindmap", "timeline", "sankey-beta", "xychart-beta", "block-beta", "packet-beta",
    "kanban", "architecture-beta", "radar-beta", "treemap-beta", "C4Context", "C4Container",
    "C4Component", "C4Dynamic", "C4Deployment",
)
_BLOCK_OPENERS = {
    "flowchart": re.compile(r"^subgraph\b"),
    "sequenceDiagram": re.compile(r"^(loop|alt|opt|par|critical|break|rect|box)\b"),
}
_PAIRS = {")": "(", "]": "[", "}": "{"}


def mermaid_statements(body: Iterable[str]) -> List[Tuple[int, str]]:
    """(offset in block, stripped line) of the diagram's statements: no blank lines, no %%
    comments or directives, no leading `---` front-matter configuration."""
    lines = list(body)
    skip = _front_matter_length(lines)
    return [
        (offset, line.strip())
        for offset, line in enumerate(lines, start=1)
        if offset > skip and line.strip() and not line.strip().startswith("%%")
    ]


def mermaid_kind(header: str) -> Optional[str]:
    """'flowchart' for flowchart/graph headers with a valid direction, the diagram type for
    other known headers, None for anything unknown."""
    words = header.split()
    if words and words[0] in ("flowchart", "graph"):
        return "flowchart" if len(words) > 1 and words[1] in DIRECTIONS else None
    if words and words[0] in MERMAID_TYPES:
        return words[0]
    return None


def unbalanced(line: str) -> Optional[str]:
    """Why a flowchart-style line's quotes or brackets don't balance, or None. Text inside
    double quotes is ignored; asymmetric node shapes (id>text]) are allowed."""
    if line.count('"') % 2:
        return "odd number of double quotes"
    bare = re.sub(r'"[^"]*"', '""', line)
    bare = re.sub(r"\b[\w-]+>[^\]]*\]", "x", bare)
    bare = re.sub(r"\|[^|]*\|", "||", bare)
    stack: List[str] = []
    for char in bare:
        if char in "([{":
            stack.append(char)
        elif char in _PAIRS:
            if not stack or stack.pop() != _PAIRS[char]:
                return "unbalanced %r" % char
    return "unclosed %r" % stack[-1] if stack else None


def check_mermaid_block(fence: Fence) -> List[Tuple[int, str]]:
    """(offset, message) problems of one mermaid block: empty, unknown diagram type,
    unbalanced quotes/brackets (flowcharts), blocks not closed by `end`."""
    statements = mermaid_statements(fence.body)
    if not statements:
        return [(0, "empty mermaid block")]
    kind = mermaid_kind(statements[0][1])
    if kind is None:
        return [(statements[0][0], "unknown mermaid diagram type %r" % statements[0][1])]
    problems: List[Tuple[int, str]] = []
    for offset, line in statements[1:]:
        reason = unbalanced(line) if kind in ("flowchart", "classDiagram") else (
            "odd number of double quotes" if line.count('"') % 2 else None)
        if reason:
            problems.append((offset, reason))
    problems.extend(_block_balance(kind, statements[1:]))
    return problems


def _block_balance(kind: str, statements: List[Tuple[int, str]]) -> List[Tuple[int, str]]:
    opener = _BLOCK_OPENERS.get(kind)
    if opener is None:
        return []
    open_blocks: List[int] = []
    for offset, line in statements:
        if opener.match(line):
            open_blocks.append(offset)
        elif line == "end":
            if not open_blocks:
                return [(offset, "`end` without an open block")]
            open_blocks.pop()
    return [(offset, "block opened here has no `end`") for offset in open_blocks]


def mermaid_fences(text: str) -> List[Fence]:
    return [fence for fence in parse_fences(text) if fence.language == "mermaid"]


def check_mermaid(path: str, text: str) -> List[Problem]:
    """Every ```mermaid block of a document is well formed (see check_mermaid_block)."""
    return [
        Problem(path, fence.start + offset, message)
        for fence in mermaid_fences(text)
        for offset, message in check_mermaid_block(fence)
    ]


# --------------------------------------------------------------------------- YAML

@lru_cache(maxsize=1)
def role_docs_generator() -> ModuleType:
    """scripts/gen-role-docs.py as a module (it is a script, not a package)."""
    if "gen_role_docs" in sys.modules:
        return sys.modules["gen_role_docs"]
    path = Path(__file__).resolve().parents[2] / "scripts" / "gen-role-docs.py"
    spec = importlib.util.spec_from_file_location("gen_role_docs", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_role_docs"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def load_yaml(path: Path) -> Any:
    """The YAML document of `path` (None for a missing or empty file), Ansible's custom tags
    (!vault, !unsafe) read as plain values: the same reader as the role README generator."""
    return role_docs_generator().load_yaml(path)


# --------------------------------------------------------------------------- role variables

_IDENTIFIER = re.compile(r"^([a-z][a-z0-9_]*)(?:$|[.\[])")


def role_names(roles_dir: Path) -> List[str]:
    """Directories under roles/ (every one is a role)."""
    if not roles_dir.is_dir():
        return []
    return sorted(p.name for p in roles_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def argument_spec_options(spec: Any) -> Set[str]:
    """Top-level option names of every entry point of a meta/argument_specs.yml document."""
    names: Set[str] = set()
    if not isinstance(spec, Mapping):
        return names
    for entry in (spec.get("argument_specs") or {}).values():
        if isinstance(entry, Mapping):
            names.update((entry.get("options") or {}).keys())
    return names


def defaults_keys(role_dir: Path) -> Set[str]:
    """Variable names set by defaults/main.yml or the files of a defaults/main/ directory."""
    files = [role_dir / "defaults" / "main.yml", role_dir / "defaults" / "main.yaml"]
    folder = role_dir / "defaults" / "main"
    if folder.is_dir():
        files.extend(sorted(folder.glob("*.y*ml")))
    keys: Set[str] = set()
    for file in files:
        data = load_yaml(file)
        if isinstance(data, Mapping):
            keys.update(str(k) for k in data.keys())
    return keys


def role_variables(roles_dir: Path) -> Dict[str, Set[str]]:
    """role name -> its public variables (defaults plus argument_specs options)."""
    return {
        role: defaults_keys(roles_dir / role)
        | argument_spec_options(load_yaml(roles_dir / role / "meta" / "argument_specs.yml"))
        for role in role_names(roles_dir)
    }


def owning_role(name: str, roles: Iterable[str]) -> Optional[str]:
    """The longest role name r such that `name` is r_<something>, or None."""
    candidates = [r for r in roles if name.startswith(r + "_") and len(name) > len(r) + 1]
    return max(candidates, key=len) if candidates else None


def check_role_variables(path: str, text: str, variables: Mapping[str, Set[str]], tags: Set[str]) -> List[Problem]:
    """Every `<role>_<name>` in a code span names a variable of that role (or a tag)."""
    problems: List[Problem] = []
    for number, span in code_spans(text):
        match = _IDENTIFIER.match(span)
        if not match:
            continue
        name = match.group(1)
        role = owning_role(name, variables.keys())
        if role and name not in variables[role] and name not in tags:
            problems.append(Problem(path, number, "`%s` is not a variable of role %s (defaults/main.yml, meta/argument_specs.yml)" % (name, role)))
    return problems


# --------------------------------------------------------------------------- tags

SPECIAL_TAGS = frozenset({"all", "always", "never", "tagged", "untagged"})
_TAG_OPTION = re.compile(r"--(?:skip-)?tags(?:=|\s+)([\"']?)([A-Za-z0-9_,.\-]+)\1")


def tags_in(data: Any) -> Set[str]:
    """Every value of every `tags:` key anywhere in a loaded YAML document."""
    found: Set[str] = set()
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == "tags":
                found.update(_tag_values(value))
            else:
                found |= tags_in(value)
    elif isinstance(data, list):
        for item in data:
            found |= tags_in(item)
    return found


def _tag_values(value: Any) -> Set[str]:
    if isinstance(value, str):
        return {t.strip() for t in value.split(",") if t.strip()}
    if isinstance(value, list):
        return {str(t).strip() for t in value}
    return set()


def tag_sources(root: Path) -> List[Path]:
    """site.yml, playbooks/*.yml and the task and handler files of every role."""
    sources = [root / "site.yml"] + sorted((root / "playbooks").glob("*.yml"))
    for role in role_names(root / "roles"):
        for folder in ("tasks", "handlers"):
            sources.extend(sorted((root / "roles" / role / folder).rglob("*.y*ml")))
    return [p for p in sources if p.is_file()]


def collect_tags(root: Path) -> Set[str]:
    """Every tag the playbooks and roles define, plus Ansible's special tags."""
    found: Set[str] = set(SPECIAL_TAGS)
    for source in tag_sources(root):
        found |= tags_in(load_yaml(source))
    return found


def mentioned_tags(text: str) -> Iterator[Tuple[int, str]]:
    """(line number, tag) for every tag given to --tags/--skip-tags anywhere in the text."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _TAG_OPTION.finditer(line):
            for tag in match.group(2).split(","):
                if tag:
                    yield number, tag


def check_tags(path: str, text: str, tags: Set[str]) -> List[Problem]:
    """Every tag named after --tags/--skip-tags exists in the playbooks or roles."""
    return [
        Problem(path, number, "tag %r is not defined in site.yml, playbooks/ or roles/" % tag)
        for number, tag in mentioned_tags(text)
        if tag not in tags
    ]


# --------------------------------------------------------------------------- documents

def markdown_files(root: Path) -> List[Path]:
    """README.md and every Markdown file under docs/ (whatever exists)."""
    files = sorted((root / "docs").rglob("*.md")) if (root / "docs").is_dir() else []
    readme = root / "README.md"
    return ([readme] if readme.is_file() else []) + files
