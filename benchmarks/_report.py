"""Tables and targets, printed as plain text that pastes into Markdown unchanged."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    """A ratio and the bound issue 7 sets for it.

    ``at_most`` bounds it from above (a cost) or, when ``False``, from below (a rate).
    A stretch goal is printed like the others but is not expected to pass.
    """

    name: str
    figure: float
    bound: float
    at_most: bool = True
    stretch: bool = False
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.figure <= self.bound if self.at_most else self.figure >= self.bound

    def line(self) -> str:
        verdict = "PASS" if self.passed else ("miss" if self.stretch else "FAIL")
        relation = "<=" if self.at_most else ">="
        kind = " (stretch)" if self.stretch else ""
        detail = f"  [{self.detail}]" if self.detail else ""
        return (
            f"{verdict:4}  {self.name}{kind}: {self.figure:.3f} {relation} {self.bound:g}{detail}"
        )


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with columns padded to line up in a terminal too."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = [_row(headers, widths), _row(["-" * w for w in widths], widths)]
    lines += [_row(row, widths) for row in rows]
    return "\n".join(lines)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    padded = [
        str(cell).ljust(width) if number == 0 else str(cell).rjust(width)
        for number, (cell, width) in enumerate(zip(cells, widths, strict=True))
    ]
    return "| " + " | ".join(padded) + " |"


def micros(seconds: float) -> str:
    value = seconds * 1e6
    return f"{value:,.1f}" if abs(value) < 1000 else f"{value:,.0f}"


def times(ratio: float | None) -> str:
    return "" if ratio is None else f"{ratio:.2f}x"


def heading(text: str) -> str:
    return f"\n## {text}\n"
