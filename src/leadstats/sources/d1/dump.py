"""Read a ``wrangler d1 export`` SQL dump into a private in-memory SQLite, without running the dump.

A dump is plain SQL: ``PRAGMA defer_foreign_keys=TRUE;``, ``CREATE TABLE ...;``, then one
``INSERT INTO "t" ("c",...) VALUES(...);`` per row (older dumps omit the column list), strings with ``''``
escapes, and newlines written as ``replace('a\\nb','\\n',char(10))``. Executing such a file would run
whatever it contains, so nothing from it is executed as given:

- ``CREATE TABLE`` is parsed only for column names (and a plain type word); leadstats creates the table
  itself from quoted identifiers;
- an ``INSERT`` whose values are only literals (strings, numbers, NULL, X'..' blobs) is checked against a
  strict literal grammar and then handed to SQLite as a multi-row ``VALUES`` list (the fast path);
- any other ``INSERT`` is evaluated here, by a tiny expression reader that knows literals, ``||`` and the
  functions dumps use (``replace``, ``char``, ``unistr``, ``unhex``) and nothing else;
- every other statement (PRAGMA, indexes, triggers, views, ``sqlite_sequence``) is skipped.

Only the tables named in the mapping are loaded, so rows of other tables (e.g. ``BlockedIPs``) never
even reach memory.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from typing import Any

from ...errors import InputError
from ..mapping import D1_FULL_COLUMNS, quote_ident

_STR = r"'[^']*(?:''[^']*)*'"
_NUM = r"[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_BLOB = r"[xX]'(?:[0-9a-fA-F]{2})*'"
_LIT = rf"(?:{_STR}|{_BLOB}|{_NUM}|(?i:NULL|TRUE|FALSE))"
_TUPLE = rf"\(\s*{_LIT}(?:\s*,\s*{_LIT})*\s*\)"
_LITERAL_VALUES = re.compile(rf"{_TUPLE}(?:\s*,\s*{_TUPLE})*\s*")
_IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
_INSERT = re.compile(
    rf"(?:INSERT\s+(?:OR\s+\w+\s+)?|REPLACE\s+)INTO\s+(?:{_IDENT}\s*\.\s*)?(?P<table>{_IDENT})\s*"
    r"(?:\((?P<cols>[^()]*)\))?\s*VALUES\s*(?P<values>.*?)\s*;\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE = re.compile(
    rf"CREATE\s+(?:TEMP\w*\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:{_IDENT}\s*\.\s*)?(?P<table>{_IDENT})\s*\("
    r"(?P<body>.*)\)[^()]*;\s*$",
    re.IGNORECASE | re.DOTALL,
)
_TOKEN = re.compile(
    rf"\s*(?:(?P<str>{_STR})|(?P<blob>{_BLOB})|(?P<num>{_NUM})|(?P<name>[A-Za-z_]\w*)|(?P<op>\|\||[(),]))",
)
_CONSTRAINTS = ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN")
_TYPE_WORD = re.compile(r"[A-Za-z]+")
BATCH = 250


def unquote(ident: str) -> str:
    """``unquote('"Lead""s"') == 'Lead"s'``; also `` `x` `` and ``[x]``."""
    ident = ident.strip()
    if len(ident) >= 2 and ident[0] == ident[-1] == '"':
        return ident[1:-1].replace('""', '"')
    if len(ident) >= 2 and (ident[0], ident[-1]) in (("`", "`"), ("[", "]")):
        return ident[1:-1]
    return ident


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "[":
            quote = "]"
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_create(body: str) -> list[tuple[str, str]]:
    """Columns of a CREATE TABLE body as ``(name, type word or "")``."""
    cols = []
    for item in _split_top(body):
        head = item.split(None, 1)[0].upper() if item.split() else ""
        if head in _CONSTRAINTS:
            continue
        m = re.match(rf"\s*({_IDENT})\s*(.*)", item, re.DOTALL)
        if not m:
            continue
        type_match = _TYPE_WORD.match(m.group(2).strip())
        type_word = type_match.group(0).upper() if type_match else ""
        if type_word in ("PRIMARY", "NOT", "NULL", "DEFAULT", "REFERENCES", "UNIQUE", "CHECK", "COLLATE",
                         "GENERATED", "CONSTRAINT"):
            type_word = ""
        cols.append((unquote(m.group(1)), type_word))
    return cols


# One token of SQL text: a string, a quoted identifier, a comment, or a run of anything else.
_PARTS = re.compile(
    r"'[^']*(?:''[^']*)*'|\"[^\"]*(?:\"\"[^\"]*)*\"|`[^`]*`|\[[^\]]*\]|--[^\n]*|/\*.*?\*/"
    r"|[^'\"`\[\-/]+|.",
    re.DOTALL,
)


def strip_comments(text: str) -> tuple[str, bool]:
    """``text`` with ``--`` comments dropped (their newline kept) and ``/* */`` comments made one space,
    outside strings and quoted identifiers (SQLite's rules); and whether it ends inside a string, a
    quoted identifier or a block comment (the statement then goes on)."""
    if "--" not in text and "/*" not in text:
        return text, False
    out: list[str] = []
    for m in _PARTS.finditer(text):
        part = m.group(0)
        if part.startswith("--"):
            continue
        if part.startswith("/*"):
            out.append(" ")
            continue
        if part in ("'", '"', "`", "[") or part == "/" and text.startswith("/*", m.start()):
            return "".join(out) + text[m.start():], True  # an unterminated string, identifier or comment
        out.append(part)
    return "".join(out), False


def statements(lines: Iterator[str], label: str = "dump") -> Iterator[tuple[int, str]]:
    """``(first line number, text)`` of each statement, comments dropped. A statement ends where SQLite
    says one does (:func:`sqlite3.complete_statement`): a ``;`` inside a string, a quoted identifier or a
    comment does not end it, and a ``CREATE TRIGGER`` ends at its ``END;``."""
    buf: list[str] = []
    start = 0
    for no, line in enumerate(lines, 1):
        if not buf:
            stripped = line.lstrip()
            if not stripped or stripped.startswith("--"):
                continue
            start = no
        buf.append(line)
        if not line.rstrip().endswith((";", "*/")) and "--" not in line:
            continue
        text = "".join(buf)
        clean, open_token = strip_comments(text)
        if not open_token and not clean.strip():
            buf = []  # only comments so far
            continue
        if open_token or not sqlite3.complete_statement(clean):
            continue
        buf = []
        if clean.strip():
            yield start, clean
    if buf and "".join(buf).strip():
        clean, open_token = strip_comments("".join(buf))
        if clean.strip():
            what = "an unclosed string, quoted name or /* comment" if open_token else "no final ;"
            raise InputError(f"{label}:{start}: the dump ends inside a statement ({what}): its rows were not read")


# -- the slow path: evaluate the few expressions dumps use ---------------------------------------------
def _unistr(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1: i + 2]
        if nxt == "\\":
            out.append("\\")
            i += 2
            continue
        for prefix, width in (("u", 4), ("+", 6), ("U", 8), ("", 4)):
            digits = text[i + 1 + len(prefix): i + 1 + len(prefix) + width]
            if text[i + 1: i + 1 + len(prefix)] == prefix and re.fullmatch(f"[0-9a-fA-F]{{{width}}}", digits):
                out.append(chr(int(digits, 16)))
                i += 1 + len(prefix) + width
                break
        else:
            raise ValueError("bad escape in unistr()")
    return "".join(out)


def _call(name: str, args: list[Any]) -> Any:
    if any(a is None for a in args) and name != "char":
        return None
    if name == "replace" and len(args) == 3:
        text, old, new = (str(a) for a in args)
        return text if old == "" else text.replace(old, new)
    if name == "char":
        return "".join(chr(int(a)) for a in args if a is not None)
    if name == "unistr" and len(args) == 1:
        return _unistr(str(args[0]))
    if name == "unhex" and len(args) == 1:
        return bytes.fromhex(str(args[0]))
    raise ValueError(f"function {name}() is not allowed in a dump")


class _Reader:
    def __init__(self, text: str) -> None:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                if text[pos:].strip() == "":
                    break
                raise ValueError(f"unexpected text at character {pos}")
            kind = m.lastgroup or "op"
            self.toks.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if value is not None and tok[1] != value:
            raise ValueError(f"expected {value!r}")
        self.i += 1
        return tok

    def tuples(self) -> list[tuple[Any, ...]]:
        rows = [self.tuple()]
        while self.peek()[1] == ",":
            self.take(",")
            rows.append(self.tuple())
        if self.peek()[0] != "end":
            raise ValueError("text after the VALUES list")
        return rows

    def tuple(self) -> tuple[Any, ...]:
        self.take("(")
        vals = [self.expr()]
        while self.peek()[1] == ",":
            self.take(",")
            vals.append(self.expr())
        self.take(")")
        return tuple(vals)

    def expr(self) -> Any:
        value = self.primary()
        while self.peek()[1] == "||":
            self.take("||")
            right = self.primary()
            value = None if value is None or right is None else f"{value}{right}"
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "blob":
            return bytes.fromhex(text[2:-1])
        if kind == "num":
            if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", text):
                return int(text, 16)
            return float(text) if re.search(r"[.eE]", text) else int(text)
        if kind == "name":
            upper = text.upper()
            if upper == "NULL":
                return None
            if upper in ("TRUE", "FALSE"):
                return int(upper == "TRUE")
            self.take("(")
            args: list[Any] = []
            if self.peek()[1] != ")":
                args.append(self.expr())
                while self.peek()[1] == ",":
                    self.take(",")
                    args.append(self.expr())
            self.take(")")
            return _call(text.lower(), args)
        raise ValueError(f"unexpected {text!r}")


def evaluate_values(text: str) -> list[tuple[Any, ...]]:
    """``evaluate_values("(1,replace('a\\\\nb','\\\\n',char(10)))") == [(1, 'a\\nb')]``."""
    return _Reader(text).tuples()


# -- loading ------------------------------------------------------------------------------------------
class _Loader:
    def __init__(self, path: str, keep: dict[str, str | None]) -> None:
        self.path = path
        self.keep = keep  # table name -> primary key column (None: unknown)
        self.con = sqlite3.connect(":memory:", check_same_thread=False)
        self.columns: dict[str, list[str]] = {}
        self.pending: list[str] = []
        self.pending_key: tuple[str, tuple[str, ...]] | None = None
        self.pending_line = 0

    def create(self, table: str, cols: list[tuple[str, str]]) -> None:
        if table in self.columns:
            return
        defs = ", ".join(f"{quote_ident(c)} {t}".rstrip() for c, t in cols)
        self.con.execute(f"CREATE TABLE {quote_ident(table)} ({defs})")
        self.columns[table] = [c for c, _ in cols]

    def ensure(self, table: str, cols: list[str] | None, line: int) -> tuple[str, ...]:
        if table not in self.columns:
            if cols is None:
                known = D1_FULL_COLUMNS.get(table)
                if known is None:
                    raise InputError(f"{self.path}:{line}: INSERT into {table} without a column list, and the"
                                     " dump has no CREATE TABLE for it")
                cols = list(known)
            self.create(table, [(c, "") for c in cols])
        have = self.columns[table]
        if cols is None:
            return tuple(have)
        for c in cols:
            if c not in have:
                self.con.execute(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(c)}")
                have.append(c)
        return tuple(cols)

    def flush(self) -> None:
        if not self.pending or self.pending_key is None:
            return
        table, cols = self.pending_key
        sql = f"INSERT INTO {quote_ident(table)} ({', '.join(map(quote_ident, cols))}) VALUES {', '.join(self.pending)}"
        try:
            self.con.execute(sql)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}:{self.pending_line}: cannot load rows of {table}: {exc}") from None
        self.pending = []
        self.pending_key = None

    def insert(self, line: int, m: re.Match[str]) -> None:
        table = unquote(m.group("table"))
        if table not in self.keep:
            return
        cols_text = m.group("cols")
        cols = [unquote(c) for c in _split_top(cols_text)] if cols_text is not None else None
        target = self.ensure(table, cols, line)
        values = m.group("values")
        if _LITERAL_VALUES.fullmatch(values):
            key = (table, target)
            if key != self.pending_key or len(self.pending) >= BATCH:
                self.flush()
                self.pending_key = key
                self.pending_line = line
            self.pending.append(values)
            return
        self.flush()
        try:
            rows = evaluate_values(values)
        except (ValueError, IndexError, OverflowError) as exc:
            raise InputError(f"{self.path}:{line}: cannot read this INSERT into {table}: {exc}") from None
        sql = (f"INSERT INTO {quote_ident(table)} ({', '.join(map(quote_ident, target))}) "
               f"VALUES ({', '.join('?' * len(target))})")
        try:
            self.con.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise InputError(f"{self.path}:{line}: cannot load a row of {table}: {exc}") from None

    def finish(self) -> sqlite3.Connection:
        self.flush()
        for table, pk in self.keep.items():
            if pk and table in self.columns and pk in self.columns[table]:
                self.con.execute(
                    f"CREATE INDEX {quote_ident('__pk_' + table)} ON {quote_ident(table)} ({quote_ident(pk)})"
                )
        self.con.commit()
        return self.con


def load_dump(path: str, keep: dict[str, str | None]) -> sqlite3.Connection:
    """Load the rows of the ``keep`` tables (name -> primary key) of a dump into an in-memory SQLite."""
    loader = _Loader(path, keep)
    try:
        fh = open(path, encoding="utf-8", errors="replace", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    try:
        loader.con.execute("BEGIN")
        for line, stmt in statements(fh, path):
            _load_statement(loader, path, line, stmt.lstrip())
        return loader.finish()
    finally:
        fh.close()


_HIDDEN_INSERT = re.compile(r"\bINSERT\s+(?:OR\s+\w+\s+)?INTO\b", re.IGNORECASE)
_SKIPPED_WITH_INSERTS = re.compile(r"CREATE\s+(?:TEMP\w*\s+)?(?:TRIGGER|VIEW)\b", re.IGNORECASE)


def _load_statement(loader: _Loader, path: str, line: int, stmt: str) -> None:
    """Load one statement's rows (INSERT into a kept table) or table definition; skip everything else
    (PRAGMA, BEGIN/COMMIT, ANALYZE, indexes, triggers, views, ``sqlite_stat1``/``sqlite_sequence``)."""
    head = stmt[:12].upper()
    if head.startswith(("INSERT", "REPLACE")):
        m = _INSERT.match(stmt)
        if not m:
            raise InputError(f"{path}:{line}: cannot read this INSERT statement")
        loader.insert(line, m)
    elif head.startswith("CREATE"):
        c = _CREATE.match(stmt)
        if c and unquote(c.group("table")) in loader.keep:
            loader.flush()
            loader.create(unquote(c.group("table")), parse_create(c.group("body")))
        elif not c and not _SKIPPED_WITH_INSERTS.match(stmt) and _HIDDEN_INSERT.search(stmt):
            raise InputError(f"{path}:{line}: cannot read this statement, which holds an INSERT")
    elif _HIDDEN_INSERT.search(stmt) and not head.startswith(("EXPLAIN", "WITH")):
        raise InputError(f"{path}:{line}: cannot read this statement, which holds an INSERT: rows would be lost")
