"""Find numbers in a lesson's prose that its committed outputs no longer print.

``python -m course_tools.prose_numbers [notebooks...]`` (or ``course prose-check``) reads every
number quoted in a lesson's markdown cells and looks for it in:

1. the text outputs of the lesson's code cells (stream, ``text/plain``, ``text/markdown``), after
   normalising how a number is written: trailing zeros (0.942 = 0.9420), rounding (prose 0.35
   accepts an output 0.347, never the reverse), percent against fraction in either direction
   (3.7 % = 0.037), thousands separators (16,384), the unicode minus, scientific notation
   (1e-4 = 10^{-4} = 0.0001) and magnitude suffixes (1.15 M = 1,151,562; 3.664 G);
2. the sources of the lesson's code cells (settings: ``lr=0.1``, ``steps=50``, seeds);
3. the prose's own arithmetic, when it checks out: ``512 × 7 × 7 = 25,088`` accepts 25,088
   (the operands are checked like any other number);
4. the allowlist (``notebooks/prose_numbers_allow.toml``): per lesson, values that come from the
   literature, the source page or the course's set-up, each with a one-line reason::

       [lessons."05"]
       "512" = "ImageNet ResNet-18's layer4 has 512 channels (He et al. 2016, Table 1)"

Every number found in none of them is printed with its cell index and the sentence around it,
and the command exits with status 1.

Not read as quoted numbers (they name something rather than measure it): inline code and code
blocks, links and URLs, the "Further reading" / "References" sections, heading and list
numbering, references (``lesson 05``, ``cell 12``, ``exercises 1 and 2``, ``section 3.3``,
``pitfall 2``, ``Eq. (3)``, ``seed 003``, ``issue #88``, ``arXiv:1312.6034``), versions
(``torchvision 0.13``), years (1950-2035, e.g. a citation's ``2016``), digits that are part of a
name (``ResNet-18``, ``layer4``, ``features.29``, ``3-D``, ``2D``), subscripts and exponents in
math (``x_0``, ``g^2``), the title cell's ``**Time**:`` line (reading time and run time are not
outputs), and integers below 10 written without a unit (counts and indices: "two maps, 3 points").
A round integer after "about", "roughly", "~" or "≈" may be rounded to its last non-zero digit
("about 140 M" accepts 138.36 M).
"""
from __future__ import annotations

import argparse
import ast
import bisect
import operator
import re
import sys
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

import nbformat

from course_utils.paths import REPO_ROOT

DEFAULT_ALLOWLIST = REPO_ROOT / "notebooks" / "prose_numbers_allow.toml"
DEFAULT_NOTEBOOKS = "notebooks/0*.ipynb"

SMALL_INTEGER = 10  # integers below this, written without a unit, are counts or indices
YEARS = range(1950, 2036)

# ---------------------------------------------------------------------------------------------
# How numbers are written
# ---------------------------------------------------------------------------------------------
_MINUS_SIGNS = "-\u2212"  # ASCII hyphen-minus and the unicode minus sign
_MINUS = r"\-\u2212"  # the same inside a regex character class
_SUPERSCRIPTS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b"
_FROM_SUPERSCRIPT = str.maketrans(_SUPERSCRIPTS, "0123456789-")
_SCALES = {"k": 3, "K": 3, "thousand": 3, "M": 6, "million": 6, "G": 9, "billion": 9}

# Optional sign, digits with optional thousands separators, decimals, exponent (1.42e-4),
# percent sign or magnitude suffix.
_NUMBER = re.compile(
    rf"(?P<sign>[+{_MINUS}])?"
    r"(?P<mantissa>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+)"
    rf"(?:[eE](?P<exp>[+{_MINUS}]?\d+))?"
    r"(?:(?P<percent>\s?%)|\s?(?P<scale>[kKMG]|thousand|million|billion)(?![A-Za-z0-9]))?")
# Scientific notation written out: 1.8 × 10⁹, 4\cdot 10^{5}, 10^{-7}, 10³.
_TIMES_TEN = re.compile(
    rf"(?:(?P<sign>[{_MINUS}])?(?P<mantissa>\d+(?:\.\d+)?)\s*(?:\u00d7|\\times|\\cdot|\u00b7)\s*)?"
    rf"10(?:\^\{{?(?P<exp>[{_MINUS}]?\d+)\}}?|(?P<sup>[{_SUPERSCRIPTS}]+))")
_DURATION = re.compile(r"(?P<min>\d+)\s*min\s+(?P<sec>\d+(?:\.\d+)?)\s*s\b")
_APPROXIMATELY = re.compile(r"(?:about|around|roughly|approximately|nearly|almost|some|~|\u2248|"
                            r"\\approx|\\sim)\s*\$?\s*$", re.IGNORECASE)

# ---------------------------------------------------------------------------------------------
# What in markdown is not a quoted number
# ---------------------------------------------------------------------------------------------
_REFERENCE_WORDS = (r"lessons?|sections?|cells?|exercises?|steps?(?=\s+\d\b)|pitfalls?|"
                    r"figures?|figs?\.|tables?|eqs?\.|equations?|chapters?|parts?|questions?|"
                    r"issues?|appendix|pages?|pp?\.|seeds?(?=\s+0\d)|PR|homework|version|v\.")
_REFERENCE = re.compile(
    rf"\b(?:{_REFERENCE_WORDS})\s*#?\(?\d+(?:\.\d+)*\)?"
    r"(?:\s*(?:,|and|or|to|\u2013|-|&)\s*#?\(?\d+(?:\.\d+)*\)?)*", re.IGNORECASE)
# Versions follow a package's name as it is spelled (LIME the method is no package: "LIME 0.62").
_PACKAGES = (r"torch|torchvision|PyTorch|Python|scikit-image|skimage|scikit-learn|sklearn|"
             r"NumPy|numpy|SciPy|scipy|captum|lime|matplotlib|pandas|OpenCV|opencv|Keras|"
             r"TensorFlow|CUDA|Jupyter|JupyterLab|nbval|nbgrader|nbformat|torchsummaryX|"
             r"torch-cam|torchcam|pip|pins|pinned|release|version")
_VERSION = re.compile(rf"\b(?:{_PACKAGES})(?:\s*[=<>]=?\s*|\s+)v?\d+(?:\.\d+)+\b")
_ISSUE = re.compile(r"#\d+")
_ARXIV = re.compile(r"arXiv:\s*\S+", re.IGNORECASE)
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_URL = re.compile(r"https?://\S+|www\.\S+")
_HTML_TAG = re.compile(r"<[^>\n]+>")
_HEADING_NUMBER = re.compile(r"^(#{1,6}\s+)(?:\d+(?:\.\d+)*\s*[.\u00b7:)\u2013-]?\s)?",
                             re.MULTILINE)
_LIST_MARKER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
_TIME_LINE = re.compile(r"\*\*Time\*\*\s*:[^\n]*(?:\n(?!\s*\n)[^\n]*)*")
_CITATION = re.compile(r"et al\.?,?\s*\(?\d{4}[a-z]?\)?")
_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+\$", re.DOTALL)
_MATH_INDEX = re.compile(r"[_^](?:\{[^{}]*\}|\\?[A-Za-z]+|\d)")  # x_0, g^2, w^{c}_{k}
_MATH_COMMAND = re.compile(r"\\[A-Za-z]+")
_SKIPPED_SECTION = re.compile(r"^(#{1,6})\s+(?:further reading|references|bibliography)\b",
                              re.IGNORECASE | re.MULTILINE)
_UNIT_WORDS = {"s", "ms", "min", "h", "px", "x", "k", "K", "M", "G", "B", "GB", "MB", "GiB",
               "MiB", "KB", "kB"}
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z*(`$])|\n\s*\n|\n\s*[-*]\s|\n#")

# The prose's own arithmetic: "512 × 7 × 7 = 25,088", "$(127/15)^2 \approx 72$".
_EQUALS = re.compile(r"(?:=|\u2248|\\approx)\s*\$?\s*")
_EXPRESSION_TAIL = re.compile(r"(?:\\times|\\cdot|\\left|\\right|\\big|\\Big|"
                              rf"[\d\s.,\u00d7\u00b7*/+{_MINUS}()^{{}}])+$")
_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
              ast.Div: operator.truediv, ast.Pow: operator.pow}


class AllowlistError(ValueError):
    """The allowlist file is malformed (an entry without a reason, a key that is no number)."""


@dataclass(frozen=True)
class Number:
    """One number as written somewhere, with what is needed to compare it."""

    value: Decimal
    text: str
    percent: bool = False
    signed: bool = False  # written with an explicit sign: then the sign must match too
    scale: int = 0  # power of ten of a suffix: 3 for k, 6 for M, 9 for G
    approximate: bool = False  # "about 140": a round integer may hide its last digits

    def candidates(self) -> list[tuple[Decimal, Decimal]]:
        """(value, rounding tolerance) pairs this number may stand for."""
        exponent = self.value.as_tuple().exponent
        if self.approximate and exponent == 0:  # "about 140" may stand for 138.36
            digits = str(abs(int(self.value)))
            exponent = len(digits) - len(digits.rstrip("0")) if digits != "0" else 0
        tol = Decimal(5).scaleb(exponent - 1)
        pairs = [(self.value, tol)]
        if self.percent:
            pairs.append((self.value.scaleb(-2), tol.scaleb(-2)))
        if self.scale:
            pairs.append((self.value.scaleb(self.scale), tol.scaleb(self.scale)))
        return pairs


@dataclass
class Quoted:
    """A number quoted in a markdown cell, and where it was found."""

    number: Number
    cell: int
    context: str
    found_in: str = ""  # 'output of cell N', 'code of cell N', 'arithmetic', 'allowlist'


@dataclass
class _Index:
    """Sorted magnitudes of some numbers (with the cell each came from) for rounding matches."""

    entries: list[tuple[Decimal, Decimal, int]]  # (|value|, signed value, cell)

    def __post_init__(self):
        self.entries.sort(key=lambda e: e[0])
        self.keys = [e[0] for e in self.entries]

    def cells(self, quoted: Number) -> set[int]:
        """The cells holding a value that ``quoted`` may be a rounding of."""
        found = set()
        for value, tol in quoted.candidates():
            target = abs(value)
            i = bisect.bisect_left(self.keys, target - tol)
            while i < len(self.keys) and self.keys[i] <= target + tol:
                _, signed, cell = self.entries[i]
                if not quoted.signed or abs(signed - value) <= tol:
                    found.add(cell)
                i += 1
        return found

    def find(self, quoted: Number, near: int = 0) -> int | None:
        """The cell nearest to cell ``near`` that holds a value ``quoted`` may round, or None."""
        return min(self.cells(quoted), key=lambda cell: (abs(cell - near), cell), default=None)

    def nearest(self, quoted: Number) -> Decimal | None:
        """The value closest to ``quoted`` if within 25 % of it (a hint for the reader)."""
        target = abs(quoted.value)
        if not self.keys or target == 0:
            return None
        i = bisect.bisect_left(self.keys, target)
        best = min(self.keys[max(i - 1, 0):i + 1], key=lambda v: abs(v - target))
        return best if abs(best - target) / target < Decimal("0.25") else None


def _index(numbers: list[tuple[Number, int]]) -> _Index:
    return _Index([(abs(v), v, cell) for n, cell in numbers for v, _ in n.candidates()])


# ---------------------------------------------------------------------------------------------
# Reading numbers
# ---------------------------------------------------------------------------------------------
def _decimal(mantissa: str, exp: str | None = None) -> Decimal:
    value = Decimal(mantissa.replace(",", ""))
    if exp:
        value = value.scaleb(int(exp.replace("\u2212", "-")))
    return value


def _number(m: re.Match, approximate: bool = False) -> Number:
    value = _decimal(m["mantissa"], m["exp"])
    if m["sign"] and m["sign"] in _MINUS_SIGNS:
        value = -value
    return Number(value, m.group(0).strip(), percent=m["percent"] is not None,
                  signed=m["sign"] is not None, scale=_SCALES.get(m["scale"] or "", 0),
                  approximate=approximate)


def _times_ten_number(m: re.Match) -> Number:
    exp = m["exp"] if m["exp"] is not None else m["sup"].translate(_FROM_SUPERSCRIPT)
    value = _decimal(m["mantissa"] or "1", exp)
    if m["sign"]:
        value = -value
    return Number(value, m.group(0), signed=m["sign"] is not None)


def _is_times_ten(m: re.Match) -> bool:
    return bool(m["mantissa"] or m["exp"] or m["sup"])


def _duration(m: re.Match) -> Number:
    return Number(Decimal(m["min"]) * 60 + Decimal(m["sec"]), m.group(0))


def parse_number(text: str) -> Number:
    """One number written as text ('0.942', '−0.05', '3.7 %', '16,384', '1e-4', '1.8 × 10⁹')."""
    text = text.strip()
    for pattern, make in ((_TIMES_TEN, _times_ten_number), (_DURATION, _duration),
                          (_NUMBER, _number)):
        m = pattern.fullmatch(text)
        if m and (pattern is not _TIMES_TEN or _is_times_ten(m)):
            return make(m)
    raise ValueError(f"not a number: {text!r}")


def numbers_in_text(text: str, code: bool = False) -> list[Number]:
    """Every number in an output or a code cell, read generously (``layer4`` gives 4).

    In code, "3,128,128" (a tuple written without spaces) also gives 3, 128 and 128.
    """
    found = [_times_ten_number(m) for m in _TIMES_TEN.finditer(text) if _is_times_ten(m)]
    found += [_duration(m) for m in _DURATION.finditer(text)]
    for m in _NUMBER.finditer(text):
        found.append(_number(m))
        if code and "," in m["mantissa"]:
            found.extend(Number(Decimal(p), p) for p in m["mantissa"].split(","))
    return found


# ---------------------------------------------------------------------------------------------
# Markdown: blank what is not a quoted number, keeping offsets for the context
# ---------------------------------------------------------------------------------------------
def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + re.sub(r"[^\n]", " ", text[start:end]) + text[end:]


def _blank_all(text: str, pattern: re.Pattern) -> str:
    for m in reversed(list(pattern.finditer(text))):
        text = _blank(text, m.start(), m.end())
    return text


def _blank_skipped_sections(text: str) -> str:
    """A "Further reading" / "References" section, up to the next heading of its level."""
    for m in reversed(list(_SKIPPED_SECTION.finditer(text))):
        nxt = re.compile(rf"^#{{1,{len(m.group(1))}}}\s", re.MULTILINE).search(text, m.end())
        text = _blank(text, m.start(), nxt.start() if nxt else len(text))
    return text


def _blank_math_notation(text: str) -> str:
    """Inside math, subscripts, superscripts and commands, keeping the 10^{k} forms."""
    def clean(m: re.Match) -> str:
        body = m.group(0)
        keep = [(t.start(), t.end()) for t in _TIMES_TEN.finditer(body) if _is_times_ten(t)]
        for pattern in (_MATH_INDEX, _MATH_COMMAND):
            for idx in reversed(list(pattern.finditer(body))):
                if not any(s <= idx.start() < e for s, e in keep):
                    body = _blank(body, idx.start(), idx.end())
        return body
    return _MATH.sub(clean, text)


def _evaluate(expression: str) -> float | None:
    """The value of a plain arithmetic expression (numbers, + − × / ^, brackets), else None."""
    expr = (expression.replace("\\times", "*").replace("\u00d7", "*").replace("\\cdot", "*")
            .replace("\u00b7", "*").replace("\u2212", "-").replace("^", "**")
            .replace("{", "(").replace("}", ")"))
    expr = re.sub(r"\\(left|right|big|Big)", "", expr)
    expr = re.sub(r"(?<=\d),(?=\d{3}\b)", "", expr).strip().lstrip(",.;:+*/ ")
    while expr.count("(") > expr.count(")") and "(" in expr:  # "(see 512 × 7 = ..." -> "512 × 7"
        expr = expr[expr.index("(") + 1:].strip()
    try:
        tree = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(tree, ast.BinOp):
        return None  # a bare number is no arithmetic

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        raise ValueError(expression)
    try:
        return value(tree)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def _arithmetic_results(text: str) -> set[int]:
    """Start offsets of numbers that are the correct result of the arithmetic just before them."""
    verified = set()
    for eq in _EQUALS.finditer(text):
        result = _NUMBER.match(text, eq.end())
        tail = _EXPRESSION_TAIL.search(text[max(eq.start() - 80, 0):eq.start()])
        if not result or not tail:
            continue
        computed = _evaluate(tail.group(0))
        if computed is None:
            continue
        number = _number(result, approximate=eq.group(0).strip(" $") != "=")
        if any(abs(Decimal(repr(computed)) - v) <= max(tol, abs(v) * Decimal("0.005")
                                                         if number.approximate else tol)
               for v, tol in number.candidates()):
            verified.add(result.start())
    return verified


def _context(source: str, start: int, end: int, width: int = 220) -> str:
    """The sentence around source[start:end], on one line, the number marked with »«."""
    ends = list(_SENTENCE_END.finditer(source))
    left = max([0] + [m.end() for m in ends if m.end() <= start])
    right = min([len(source)] + [m.start() for m in ends if m.start() >= end])
    before = re.sub(r"\s+", " ", source[left:start]).lstrip()
    after = re.sub(r"\s+", " ", source[end:right]).rstrip()
    half = width // 2
    before = "…" + before[-half:] if len(before) > half else before
    after = after[:half] + "…" if len(after) > half else after
    return f"{before}»{source[start:end]}«{after}"


def _glued_to_name(text: str, start: int, end: int) -> bool:
    """Digits that belong to a name: ResNet-18, layer4, features.29, 2D, 3-D, 1st, x2."""
    before = text[max(start - 2, 0):start]
    if before[-1:] == "x" and before[:1].isdigit():  # 3x128x128
        pass
    elif before[-1:].isalpha() or before[-1:] in "_\\":
        return True
    elif before[-1:] in "-.'" and before[:1].isalpha():
        return True
    after = text[end:end + 3]
    if after[:1] == "-" and after[1:2].isalpha():  # 3-D, 2-layer, but 60-fold is a quantity
        return not text[end + 1:end + 5] == "fold"
    if after[:1].isalpha() or after[:1] == "_":
        word = re.match(r"[A-Za-z_]+", text[end:end + 12]).group(0)
        nxt = text[end + len(word):end + len(word) + 1]
        return not (word in _UNIT_WORDS and not nxt.isdigit() or
                    word == "x" and (nxt.isdigit() or not nxt.isalpha()))
    return False


def _is_year(m: re.Match) -> bool:
    return (re.fullmatch(r"\d{4}", m["mantissa"]) is not None and not m["percent"]
            and not m["scale"] and int(m["mantissa"]) in YEARS)


def _is_small_count(number: Number, text: str, end: int) -> bool:
    if number.percent or number.scale or number.value != number.value.to_integral_value():
        return False
    if any(c in number.text for c in ".eE"):
        return False
    unit = re.match(r"\s?(ms|min|s|px)\b", text[end:end + 5])
    return abs(number.value) < SMALL_INTEGER and unit is None


def quoted_numbers(source: str, cell: int = 0) -> list[Quoted]:
    """The numbers quoted in one markdown cell, minus references, names and notation.

    A quoted number whose value the cell's own arithmetic verifies comes back with
    ``found_in='arithmetic'``.
    """
    text = source
    for pattern in (_FENCE, _INLINE_CODE, _HTML_TAG, _LINK_TARGET, _URL, _ARXIV, _TIME_LINE):
        text = _blank_all(text, pattern)
    text = _blank_skipped_sections(text)
    verified = _arithmetic_results(text)
    text = _blank_math_notation(text)
    for m in reversed(list(_HEADING_NUMBER.finditer(text))):
        text = _blank(text, m.end(1), m.end())
    for pattern in (_LIST_MARKER, _VERSION, _REFERENCE, _ISSUE, _CITATION):
        text = _blank_all(text, pattern)

    found: list[tuple[int, int, Number]] = []
    for m in reversed(list(_TIMES_TEN.finditer(text))):
        if _is_times_ten(m) and not _glued_to_name(text, m.start(), m.end()):
            found.append((m.start(), m.end(), _times_ten_number(m)))
            text = _blank(text, m.start(), m.end())
    for m in reversed(list(_DURATION.finditer(text))):
        found.append((m.start(), m.end(), _duration(m)))
        text = _blank(text, m.start(), m.end())
    for m in _NUMBER.finditer(text):
        start = m.start()
        if m.group(0)[0] in _MINUS_SIGNS + "+." and start > 0 and (
                text[start - 1].isalnum() or text[start - 1] in ").]"):
            # "0-255", "C − 1", "0..255": ranges and differences, not signs
            start += 1
            m = _NUMBER.match(text, start)
            if m is None:
                continue
        if _glued_to_name(text, start, m.end()) or _is_year(m):
            continue
        number = _number(m, approximate=bool(_APPROXIMATELY.search(text[max(start - 16, 0):start])))
        if _is_small_count(number, text, m.end()):
            continue
        found.append((start, m.end(), number))
    found.sort(key=lambda t: t[0])
    return [Quoted(n, cell, _context(source, s, e), "arithmetic" if s in verified else "")
            for s, e, n in found]


# ---------------------------------------------------------------------------------------------
# The allowlist and the check
# ---------------------------------------------------------------------------------------------
def lesson_key(path: Path) -> str:
    """'05' for notebooks/05_cam_resnet18.ipynb."""
    m = re.match(r"(\d{2})_", Path(path).name)
    if not m:
        raise ValueError(f"{path}: a lesson notebook's name starts with its number (NN_topic.ipynb)")
    return m.group(1)


def load_allowlist(path: Path | None) -> dict[str, dict[Number, str]]:
    """The allowlist as {lesson: {number: reason}}; AllowlistError on a malformed entry.

    A missing file is an empty allowlist.
    """
    if path is None or not Path(path).exists():
        return {}
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise AllowlistError(f"{path}: not valid TOML: {err}") from None
    unknown = set(data) - {"lessons"}
    if unknown:
        raise AllowlistError(f"{path}: unknown top-level keys {sorted(unknown)}; "
                             'entries go under [lessons."NN"]')
    allow: dict[str, dict[Number, str]] = {}
    for lesson, entries in data.get("lessons", {}).items():
        if not re.fullmatch(r"\d{2}", lesson) or not isinstance(entries, dict):
            raise AllowlistError(f'{path}: [lessons.{lesson!r}] must be a table named by a '
                                 'two-digit lesson number, e.g. [lessons."05"]')
        allow[lesson] = {}
        for key, reason in entries.items():
            where = f'{path}: [lessons."{lesson}"] "{key}"'
            if not isinstance(reason, str) or not reason.strip():
                raise AllowlistError(f"{where}: every entry needs a one-line reason "
                                     f"(where the number comes from), got {reason!r}")
            if "\n" in reason.strip():
                raise AllowlistError(f"{where}: the reason must fit on one line")
            try:
                number = parse_number(key)
            except (ValueError, InvalidOperation):
                raise AllowlistError(f"{where}: the key must be one number as the prose writes "
                                     "it ('0.416', '15 %', '1e-4', '3.6 × 10⁹')") from None
            allow[lesson][number] = reason.strip()
    return allow


def _output_text(output) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(data.get(kind, "") for kind in ("text/plain", "text/markdown"))


@dataclass
class Report:
    """What the check of one lesson found."""

    path: Path
    quoted: list[Quoted]
    unused_allowed: list[str]
    hints: dict[int, Decimal] = field(default_factory=dict)  # id(quoted) -> nearest output

    @property
    def unmatched(self) -> list[Quoted]:
        return [q for q in self.quoted if not q.found_in]

    def counts(self) -> dict[str, int]:
        kinds = {"output": 0, "code": 0, "arithmetic": 0, "allowlist": 0, "unmatched": 0}
        for q in self.quoted:
            kinds[q.found_in.split()[0] if q.found_in else "unmatched"] += 1
        return kinds


def check_notebook(path: Path, allow: dict[str, dict[Number, str]] | None = None) -> Report:
    """Check one lesson: every quoted number against outputs, code, arithmetic, allowlist."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    lesson_allow = (allow or {}).get(lesson_key(path), {})
    outputs, code = [], []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            code += [(n, i) for n in numbers_in_text(cell.source, code=True)]
            outputs += [(n, i) for out in cell.get("outputs", [])
                        for n in numbers_in_text(_output_text(out))]
    output_index, code_index = _index(outputs), _index(code)
    allowed = list(lesson_allow)
    allow_index = _index([(n, k) for k, n in enumerate(allowed)])

    quoted, hints, used = [], {}, set()
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for q in quoted_numbers(cell.source, i):
            quoted.append(q)
            if q.found_in:
                continue
            if (where := output_index.find(q.number, near=i)) is not None:
                q.found_in = f"output of cell {where}"
            elif (where := code_index.find(q.number, near=i)) is not None:
                q.found_in = f"code of cell {where}"
            elif (k := allow_index.find(q.number)) is not None:
                q.found_in = f"allowlist ({lesson_allow[allowed[k]]})"
                used.add(k)
            elif (near := output_index.nearest(q.number)) is not None:
                hints[id(q)] = near
    unused = [allowed[k].text for k in range(len(allowed)) if k not in used]
    return Report(path, quoted, unused, hints)


def format_report(report: Report, verbose: bool = False) -> str:
    """The lesson's summary line, each unmatched number with its sentence, notes.

    ``verbose`` also lists each matched number and where it was found (for an output, the
    nearest code cell that prints it: a match far from the sentence may be a coincidence).
    """
    c = report.counts()
    try:
        shown = report.path.resolve().relative_to(Path.cwd())
    except ValueError:
        shown = report.path
    lines = [f"{shown}: {len(report.quoted)} numbers quoted; {c['output']} in outputs, "
             f"{c['code']} in code, {c['arithmetic']} checked arithmetic, {c['allowlist']} "
             f"allowlisted, {c['unmatched']} unmatched"]
    for q in report.quoted:
        if q.found_in and not verbose:
            continue
        if q.found_in:
            lines.append(f"  cell {q.cell}: {q.number.text}  [{q.found_in}]")
            continue
        near = report.hints.get(id(q))
        hint = f"  (closest output value: {near})" if near is not None else ""
        lines.append(f"  cell {q.cell}: {q.number.text}  UNMATCHED{hint}\n      {q.context}")
    for text in report.unused_allowed:
        lines.append(f"  note: allowlist entry {text!r} matches no number in this lesson's prose")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_tools.prose_numbers",
        description="List the numbers quoted in the lessons' markdown that appear in none of the "
                    "lesson's code outputs, code sources or allowlist entries (exit status 1 "
                    "if any, 2 on bad input).")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help=f"lesson notebooks (default: {DEFAULT_NOTEBOOKS})")
    parser.add_argument("--allowlist", type=Path, default=DEFAULT_ALLOWLIST,
                        help="TOML file of literature/source values with a reason each "
                             "(default: notebooks/prose_numbers_allow.toml)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list every matched number and where it was found")
    args = parser.parse_args(argv)
    notebooks = args.notebooks or sorted(REPO_ROOT.glob(DEFAULT_NOTEBOOKS))
    if not notebooks:
        print(f"prose_numbers: no notebooks match {DEFAULT_NOTEBOOKS}", file=sys.stderr)
        return 2
    try:
        allow = load_allowlist(args.allowlist)
        reports = [check_notebook(path, allow) for path in notebooks]
    except (ValueError, OSError, nbformat.reader.NotJSONError) as err:
        print(f"prose_numbers: {err}", file=sys.stderr)
        return 2
    for report in reports:
        print(format_report(report, verbose=args.verbose))
    total = sum(len(r.unmatched) for r in reports)
    print(f"{total} unmatched number(s) in {len(reports)} lesson(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
