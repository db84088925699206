"""Rows of a spreadsheet or delimited text table, each with the row number a person would look up.

Annotation workbooks (CAS(ME)^2, SAMM-LV, CAS(ME)^3, a lab's own tables) arrive as ``.xlsx``
(openpyxl), ``.xls`` (xlrd) or ``.csv``/``.tsv`` text. Every reader here returns the same
`Sheet`: its cells as Python values and, for each row, the 1-based row number shown by Excel
(or the line number of a text file), so that an error can name file, sheet and row exactly.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import LabelError

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")


@dataclass
class Sheet:
    """One table: `rows` holds (row number, [cell values]) for every non-empty row."""

    path: Path
    name: str | None
    rows: list[tuple[int, list]]

    def where(self, row: int | None = None) -> str:
        """'file, sheet 'X', row N' (text files: 'file, line N') for error messages."""
        parts = [str(self.path)]
        if self.name is not None:
            parts.append(f"sheet {self.name!r}")
        if row is not None:
            parts.append(f"{'row' if self.name is not None else 'line'} {row}")
        return ", ".join(parts)

    def error(self, row: int | None, message: str) -> LabelError:
        return LabelError(f"{self.where(row)}: {message}")

    def find_header(self, required: list[str], max_rows: int = 40) -> tuple[int, dict[str, int]]:
        """(index into `rows` of the header row, {lower-cased name: column}) of the first row that
        names every column in `required` (case-insensitive); workbooks often have title rows first."""
        want = [r.lower() for r in required]
        for k, (_row, cells) in enumerate(self.rows[:max_rows]):
            names = {str(c).strip().lower(): i for i, c in enumerate(cells) if c is not None and str(c).strip()}
            if all(w in names for w in want):
                return k, names
        raise self.error(None, f"no header row with the columns {', '.join(required)} "
                               f"in the first {max_rows} rows")


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _trim(cells: list) -> list:
    while cells and _blank(cells[-1]):
        cells.pop()
    return cells


def sheet_names(path: str | os.PathLike) -> list[str]:
    """Sheet names of a workbook ([] for a text table)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        book = _open_xlsx(path)
        try:
            return list(book.sheetnames)
        finally:
            book.close()
    if suffix == ".xls":
        return list(_open_xls(path).sheet_names())
    return []


def _open_xlsx(path: Path):
    import zipfile

    import openpyxl

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except FileNotFoundError:
        raise LabelError(f"{path}: file not found") from None
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise LabelError(f"{path}: not a readable .xlsx workbook ({exc})") from None


def _open_xls(path: Path):
    try:
        import xlrd
    except ImportError:  # pragma: no cover - xlrd is a dependency
        raise LabelError(f"{path}: reading .xls needs the xlrd package; save it as .xlsx") from None
    try:
        return xlrd.open_workbook(str(path))
    except FileNotFoundError:
        raise LabelError(f"{path}: file not found") from None
    except Exception as exc:  # xlrd raises its own XLRDError and struct errors on damaged files
        raise LabelError(f"{path}: not a readable .xls workbook ({exc})") from None


def _pick(path: Path, names: list[str], sheet: str | int | None) -> int:
    if sheet is None:
        return 0
    if isinstance(sheet, int):
        if not 0 <= sheet < len(names):
            raise LabelError(f"{path}: no sheet number {sheet + 1} (it has {len(names)})")
        return sheet
    lowered = [n.strip().lower() for n in names]
    if sheet.strip().lower() not in lowered:
        raise LabelError(f"{path}: no sheet {sheet!r} (sheets: {', '.join(names)})")
    return lowered.index(sheet.strip().lower())


def read_sheet(path: str | os.PathLike, sheet: str | int | None = None) -> Sheet:
    """The rows of one sheet (by name, case-insensitive, or 0-based index; default the first)."""
    path = Path(path)
    if not path.exists():
        raise LabelError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        book = _open_xlsx(path)
        try:
            index = _pick(path, list(book.sheetnames), sheet)
            ws = book.worksheets[index]
            rows = []
            for r, values in enumerate(ws.iter_rows(values_only=True), start=1):
                cells = _trim(list(values))
                if cells:
                    rows.append((r, cells))
            return Sheet(path, book.sheetnames[index], rows)
        finally:
            book.close()
    if suffix == ".xls":
        book = _open_xls(path)
        names = list(book.sheet_names())
        index = _pick(path, names, sheet)
        ws = book.sheet_by_index(index)
        rows = []
        for r in range(ws.nrows):
            cells = _trim([_xls_value(c) for c in ws.row(r)])
            if cells:
                rows.append((r + 1, cells))
        return Sheet(path, names[index], rows)
    return _read_text_table(path)


def _xls_value(cell):
    value = cell.value
    if isinstance(value, float) and value.is_integer() and cell.ctype == 2:  # xlrd number
        return int(value)
    return value


def _read_text_table(path: Path) -> Sheet:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if data[:4] == b"PK\x03\x04":
            raise LabelError(f"{path}: a zipped workbook named like a text table; rename it to .xlsx") from None
        try:
            text = data.decode("utf-16")  # BORIS and Excel "Unicode text" exports
        except UnicodeDecodeError:
            line = data[: data.find(b"\n", 0) + 1 or len(data)].count(b"\n") + 1
            raise LabelError(f"{path}, line {line}: not UTF-8 text") from None
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    try:
        for cells in reader:
            cells = _trim([c for c in cells])
            if cells and not all(_blank(c) for c in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as exc:
        raise LabelError(f"{path}, line {reader.line_num}: malformed table ({exc})") from None
    return Sheet(path, None, rows)


def cell_int(sheet: Sheet, row: int, value, what: str, allow_blank: bool = False) -> int | None:
    """A whole number from a cell (Excel stores 12 as 12.0; text '12' is accepted)."""
    if _blank(value):
        if allow_blank:
            return None
        raise sheet.error(row, f"{what} is empty")
    if isinstance(value, bool):
        raise sheet.error(row, f"{what} {value!r} is not a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise sheet.error(row, f"{what} {value!r} is not a whole number")
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        raise sheet.error(row, f"{what} {text!r} is not a whole number") from None
    if not number.is_integer():
        raise sheet.error(row, f"{what} {text!r} is not a whole number")
    return int(number)


def cell_text(value) -> str:
    """A cell as stripped text (numbers stored as 6.0 read as '6')."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
