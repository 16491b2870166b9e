r"""Technology energy tables as data: ``tables/*.json`` shipped in the package, or a user's file.

A table file is JSON::

    {"name": "...", "source": "...", "unit": "pJ",
     "ops": {"fp32": {"add": 0.9, "mult": 3.7, "bits": 32}, "int8": {...}, ...},
     "memory": [{"name": "SRAM 8 KB", "capacity_bytes": 8192, "pj_per_64bit": 10.0}, ...,
                {"name": "DRAM", "capacity_bytes": null, "pj_per_64bit": 1950.0}]}

Energies are in picojoules. An accumulate costs one add, :math:`E_{AC}(p) = E_{add}(p)`; a
multiply-accumulate one multiply and one add, :math:`E_{MAC}(p) = E_{mult}(p) + E_{add}(p)`
(45 nm, fp32: 4.6 pJ and 0.9 pJ). Memory levels are listed smallest first; a data structure of
:math:`S` bytes lives in the smallest level whose ``capacity_bytes`` holds it (``null``: unbounded),
and moving :math:`b` bits costs :math:`b / 64 \cdot E_{64}`.

Example::

    t = EnergyTable.load()                 # the shipped 45 nm table
    t.mac("fp32"), t.ac("int8")            # (4.6, 0.03)
    t.memory_level(40_000).name            # 'SRAM 1 MB'
    EnergyTable.load("my_7nm.json")        # a user table
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

_DIR = Path(__file__).resolve().parent / "tables"


@dataclass(frozen=True)
class MemoryLevel:
    """One level of the memory hierarchy: ``capacity_bytes`` (``None``: unbounded) and pJ per 64-bit access."""

    name: str
    capacity_bytes: int | None
    pj_per_64bit: float

    def pj_per_bit(self) -> float:
        return self.pj_per_64bit / 64.0


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation and per memory access (pJ). ``mac(p) = mult + add``, ``ac(p) = add`` at precision ``p``."""

    name: str
    source: str
    ops: dict
    memory: tuple[MemoryLevel, ...] = ()
    path: str = ""

    @classmethod
    def available(cls) -> list[str]:
        """Names of the tables shipped with the package."""
        return sorted(p.stem for p in _DIR.glob("*.json"))

    @classmethod
    def load(cls, name_or_path: str | Path = "horowitz45nm") -> EnergyTable:
        """A shipped table by name (``horowitz45nm``) or a ``.json`` file path."""
        if isinstance(name_or_path, EnergyTable):
            return name_or_path
        path = Path(name_or_path)
        if not path.suffix:
            path = _DIR / f"{name_or_path}.json"
        if not path.is_file():
            raise FileNotFoundError(f"no energy table {str(name_or_path)!r}; shipped tables: {cls.available()}, or give a .json file path")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict, path: str = "<dict>") -> EnergyTable:
        for key in ("name", "ops"):
            if key not in data:
                raise ValueError(f"{path}: energy table lacks the field {key!r}")
        ops = {}
        for prec, entry in data["ops"].items():
            if not {"add", "mult"} <= set(entry) or not set(entry) <= {"add", "mult", "bits"}:
                raise ValueError(f"{path}: ops.{prec} must have 'add' and 'mult' (pJ) and optionally 'bits', got {sorted(entry)}")
            if min(entry["add"], entry["mult"]) < 0:
                raise ValueError(f"{path}: ops.{prec} energies must be >= 0, got {entry}")
            ops[prec] = dict(entry)
        levels = []
        for i, m in enumerate(data.get("memory", [])):
            if set(m) != {"name", "capacity_bytes", "pj_per_64bit"}:
                raise ValueError(f"{path}: memory[{i}] must have exactly 'name', 'capacity_bytes', 'pj_per_64bit', got {sorted(m)}")
            levels.append(MemoryLevel(m["name"], m["capacity_bytes"], float(m["pj_per_64bit"])))
        caps = [lv.capacity_bytes for lv in levels]
        if None in caps[:-1] or caps != sorted(caps, key=lambda c: float("inf") if c is None else c):
            raise ValueError(f"{path}: memory levels must be listed smallest first, only the last may be unbounded (null), got {caps}")
        return cls(data["name"], data.get("source", ""), ops, tuple(levels), path)

    def _op(self, precision: str) -> dict:
        try:
            return self.ops[precision]
        except KeyError:
            raise ValueError(f"table {self.name!r} has no precision {precision!r}; it has {sorted(self.ops)}") from None

    def mac(self, precision: str = "fp32") -> float:
        o = self._op(precision)
        return o["mult"] + o["add"]

    def ac(self, precision: str = "fp32") -> float:
        return self._op(precision)["add"]

    def bits(self, precision: str) -> int:
        """Operand width of a precision (the ``bits`` field, else the digits in its name: ``int8`` -> 8)."""
        o = self._op(precision)
        if "bits" in o:
            return int(o["bits"])
        digits = "".join(ch for ch in precision if ch.isdigit())
        if not digits:
            raise ValueError(f"table {self.name!r}: precision {precision!r} has no 'bits' field and no width in its name")
        return int(digits)

    def integer_precision(self, bits: int) -> str | None:
        """The narrowest integer precision ``int<n>`` of the table with ``n >= bits`` (``None`` if there is none)."""
        ints = sorted((self.bits(p), p) for p in self.ops if p.startswith("int"))
        for n, p in ints:
            if n >= bits:
                return p
        return None

    def memory_level(self, size_bytes: float) -> MemoryLevel:
        """The smallest memory level that holds ``size_bytes``."""
        if not self.memory:
            raise ValueError(f"table {self.name!r} has no 'memory' levels; the memory-aware model needs them")
        for level in self.memory:
            if level.capacity_bytes is None or size_bytes <= level.capacity_bytes:
                return level
        return self.memory[-1]

    def describe(self) -> str:
        """The whole table, as printed in every report."""
        lines = [f"energy table: {self.name}" + (f" ({self.path})" if self.path and not self.path.startswith(str(_DIR)) else "")]
        if self.source:
            lines.append(f"  source: {self.source}")
        lines.append("  " + "; ".join(f"{p}: MAC {self.mac(p):.2f} pJ, AC {self.ac(p):.2f} pJ" for p in self.ops))
        if self.memory:
            lines.append("  memory (pJ / 64-bit access): " + "; ".join(
                f"{m.name} {m.pj_per_64bit:g}" + ("" if m.capacity_bytes is None else f" (<= {m.capacity_bytes} B)") for m in self.memory))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "ops": self.ops,
                "memory": [{"name": m.name, "capacity_bytes": m.capacity_bytes, "pj_per_64bit": m.pj_per_64bit} for m in self.memory]}
