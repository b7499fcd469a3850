"""`depends` expressions: a tiny tokenizer, a recursive-descent parser, and an evaluator.

Grammar (the operators Argo's `depends` uses, so an export mirrors the flow one to one)::

    expr    := and ( '||' and )*
    and     := unary ( '&&' unary )*
    unary   := '!' unary | '(' expr ')' | ref
    ref     := TASK [ '.' STATE ]        STATE: Succeeded | Failed | Skipped
                                          a bare TASK means TASK.Succeeded

Nothing here calls `eval`. A list `[a, b]` is `a && b`. Evaluation happens once every referenced
task is final; a `False` result means the task is Skipped.

Bounds (a flow file is input too): an expression is at most `MAX_LENGTH` characters and nests
`!` and `(` at most `MAX_DEPTH` deep, so parsing, rendering and evaluating never reach Python's
recursion limit; the tokenizer is one left-to-right pass (it never copies the rest of the text).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from workflow.errors import ExpressionInvalid

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "STATES", "And", "Expr", "Not", "Or", "Ref", "parse_depends", "parse_expression"]

STATES = ("Succeeded", "Failed", "Skipped")
MAX_LENGTH = 10_000
MAX_DEPTH = 64
_TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||!|\(|\))|(?P<ref>[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z]+)?))")
_SPACE = re.compile(r"\s*")


@dataclass(frozen=True)
class Ref:
    task: str
    state: str = "Succeeded"

    def evaluate(self, states: Mapping[str, str]) -> bool:
        return states.get(self.task) == self.state

    def tasks(self) -> Iterator[str]:
        yield self.task

    def render(self) -> str:
        return f"{self.task}.{self.state}"


@dataclass(frozen=True)
class Not:
    operand: Expr

    def evaluate(self, states: Mapping[str, str]) -> bool:
        return not self.operand.evaluate(states)

    def tasks(self) -> Iterator[str]:
        yield from self.operand.tasks()

    def render(self) -> str:
        return f"!{_wrap(self.operand)}"


@dataclass(frozen=True)
class And:
    operands: tuple[Expr, ...]

    def evaluate(self, states: Mapping[str, str]) -> bool:
        return all(o.evaluate(states) for o in self.operands)

    def tasks(self) -> Iterator[str]:
        for o in self.operands:
            yield from o.tasks()

    def render(self) -> str:
        return " && ".join(_wrap(o) for o in self.operands)


@dataclass(frozen=True)
class Or:
    operands: tuple[Expr, ...]

    def evaluate(self, states: Mapping[str, str]) -> bool:
        return any(o.evaluate(states) for o in self.operands)

    def tasks(self) -> Iterator[str]:
        for o in self.operands:
            yield from o.tasks()

    def render(self) -> str:
        return " || ".join(_wrap(o) for o in self.operands)


Expr = Ref | Not | And | Or


def _wrap(e: Expr) -> str:
    return f"({e.render()})" if isinstance(e, And | Or) else e.render()


@dataclass(frozen=True)
class _Tok:
    kind: str  # "op" | "ref" | "end"
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    if len(text) > MAX_LENGTH:
        raise ExpressionInvalid(f"longer than {MAX_LENGTH} characters", expression=text[:40] + "...", position=MAX_LENGTH)
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            bad = _SPACE.match(text, pos).end()  # type: ignore[union-attr]  # always matches
            if bad == len(text):
                break  # only trailing whitespace left
            raise ExpressionInvalid(f"unexpected character {text[bad]!r}", expression=text, position=bad)
        kind = "op" if m.group("op") else "ref"
        tokens.append(_Tok(kind, m.group(kind), m.start(kind)))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, message: str, tok: _Tok) -> ExpressionInvalid:
        return ExpressionInvalid(message, expression=self.text, position=tok.pos)

    def parse(self) -> Expr:
        if self.peek().kind == "end":
            raise self.fail("empty expression", self.peek())
        expr = self.parse_or()
        if self.peek().kind != "end":
            raise self.fail(f"unexpected {self.peek().text!r}", self.peek())
        return expr

    def parse_or(self) -> Expr:
        items = [self.parse_and()]
        while self.peek().text == "||":
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expr:
        items = [self.parse_unary()]
        while self.peek().text == "&&":
            self.take()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Expr:
        tok = self.take()
        if tok.text in ("!", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.fail(f"nested deeper than {MAX_DEPTH} levels of '!' and '('", tok)
            try:
                return self._nested(tok)
            finally:
                self.depth -= 1
        if tok.kind == "ref":
            return _ref(tok, self)
        what = "end of expression" if tok.kind == "end" else repr(tok.text)
        raise self.fail(f"expected a task name, '!' or '(' but found {what}", tok)

    def _nested(self, tok: _Tok) -> Expr:
        if tok.text == "!":
            return Not(self.parse_unary())
        inner = self.parse_or()
        close = self.take()
        if close.text != ")":
            raise self.fail("missing ')'", close)
        return inner


def _ref(tok: _Tok, parser: _Parser) -> Ref:
    task, _, state = tok.text.partition(".")
    if not state:
        return Ref(task)
    if state not in STATES:
        raise parser.fail(f"unknown state {state!r} (use one of {', '.join(STATES)})", tok)
    return Ref(task, state)


def parse_expression(text: str) -> Expr:
    """Parse one `depends` expression string."""
    return _Parser(text).parse()


def parse_depends(value: str | Sequence[str] | None) -> Expr | None:
    """A `depends` value (None, a name or expression, or a list of names/expressions) -> Expr."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_expression(value)
    items = [parse_expression(v) for v in value]
    if not items:
        return None
    return items[0] if len(items) == 1 else And(tuple(items))
