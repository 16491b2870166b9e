"""Technology energy tables as data: ``tables/*.json`` (or a user file), never constants in code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

_DIR = Path(__file__).resolve().parent / "tables"


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation (pJ). ``mac(p) = mult + add``, ``ac(p) = add`` at precision ``p`` (fp32, fp16, int8, ...)."""

    name: str
    source: str
    ops: dict
    memory: dict

    @classmethod
    def load(cls, name_or_path: str | Path = "horowitz45nm") -> EnergyTable:
        path = Path(name_or_path)
        if not path.suffix:
            path = _DIR / f"{name_or_path}.json"
        if not path.is_file():
            known = sorted(p.stem for p in _DIR.glob("*.json"))
            raise FileNotFoundError(f"no energy table {str(name_or_path)!r}; shipped tables: {known}, or give a .json file path")
        data = json.loads(path.read_text())
        for key in ("name", "ops"):
            if key not in data:
                raise ValueError(f"{path}: energy table lacks the field {key!r}")
        for prec, entry in data["ops"].items():
            if set(entry) != {"add", "mult"}:
                raise ValueError(f"{path}: ops.{prec} must have exactly 'add' and 'mult' (pJ), got {sorted(entry)}")
        return cls(data["name"], data.get("source", ""), data["ops"], data.get("memory_per_64bit_read", {}))

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

    def describe(self) -> str:
        return f"{self.name}: MAC {self.mac():.2f} pJ, AC {self.ac():.2f} pJ (fp32)" + (f" — {self.source}" if self.source else "")
