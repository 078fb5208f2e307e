"""A small DOM for the web view's tests: parse a page with ``html.parser``, find elements.

Enough to check the DOM contract the browser tests rely on (classes, ``data-*``
attributes, text) without a browser: ``parse(html).find("rect", cls="band")``.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser

__all__ = ["Element", "parse"]

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
)


class Element:
    """One element: its tag, attributes, children and text."""

    def __init__(self, tag: str, attrs: dict[str, str]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Element] = []
        self.parts: list[str | Element] = []

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        """All text inside, entities decoded (as a browser shows it)."""
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    def get(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)

    def walk(self) -> Iterator[Element]:
        for child in self.children:
            yield child
            yield from child.walk()

    def find_all(
        self, tag: str | None = None, cls: str | None = None, **data: str
    ) -> list[Element]:
        """Descendants with ``tag``, class ``cls`` and the given attributes
        (``data_kind="slow"`` means ``data-kind="slow"``)."""
        wanted = {k.replace("_", "-"): v for k, v in data.items()}
        return [
            e
            for e in self.walk()
            if (tag is None or e.tag == tag)
            and (cls is None or cls in e.classes)
            and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **data: str) -> Element:
        """The only match (``AssertionError`` when none or several)."""
        found = self.find_all(tag, cls, **data)
        assert len(found) == 1, f"expected one <{tag} class={cls} {data}>, found {len(found)}"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return
        raise AssertionError(f"</{tag}> closes nothing")

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(html: str) -> Element:
    """The document tree of ``html`` (``AssertionError`` on a stray end tag)."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
