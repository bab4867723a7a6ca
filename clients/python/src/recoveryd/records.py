"""Plain records for answers: dataclasses that ``pandas.DataFrame`` takes as
they are (``pandas.DataFrame(client.budgets().agents)``)."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Mapping, Optional


def _pick(cls: type, data: Mapping[str, Any]) -> Dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


@dataclass(frozen=True)
class Receipt:
    """An append's receipt: the chain hash at the event's position."""
    position: int
    hash: str
    duplicate: bool
    remaining: Optional[int] = None
    warning: Optional[bool] = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Receipt":
        return cls(**_pick(cls, data))


@dataclass(frozen=True)
class StoredEvent:
    """A stored event: its position, payload as a dict, and (when it came
    from a stream) the exact bytes the chain covers."""
    position: int
    payload: Dict[str, Any]
    raw: Optional[bytes] = None

    @property
    def type(self) -> str:
        return self.payload["type"]


@dataclass(frozen=True)
class Budget:
    """One person's budget on a business day (amounts in minor units)."""
    agent_id: str
    day: str
    allowance: int
    spent: int
    remaining: int
    currency: str
    compensations: int
    reversals: int
    late_reversals: int = 0
    late_reversed: int = 0
    at: Optional[int] = None
    at_hash: Optional[str] = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Budget":
        return cls(**_pick(cls, data))


@dataclass(frozen=True)
class Budgets:
    day: str
    currency: str
    agents: List[Budget]
    total_allowance: int
    total_spent: int
    compensations: int
    reversals: int
    late_reversals: int
    late_reversed: int
    covers: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Budgets":
        values = _pick(cls, data)
        values["agents"] = [Budget.from_json(a) for a in data["agents"]]
        return cls(**values)


@dataclass(frozen=True)
class OutcomeFigures:
    """The figures of the total or of one group (``key``); rates are numbers
    (or None when there is nothing to divide), money is minor units."""
    cases: int
    open: int
    paradox: int
    restored: int
    unrecovered: int
    unmeasured: int
    defected: int
    compensation_total: int
    promoters: int
    passives: int
    detractors: int
    key: Optional[str] = None
    paradox_rate: Optional[float] = None
    mean_uplift: Optional[float] = None
    compensation_closed: int = 0
    compensation_per_paradox: Optional[int] = None
    compensation_owned: Optional[int] = None
    nps: Optional[float] = None
    follow_up_on_time_rate: Optional[float] = None
    followed_up: int = 0
    followed_up_on_time: int = 0
    follow_ups_overdue: int = 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "OutcomeFigures":
        return cls(**_pick(cls, data))


@dataclass(frozen=True)
class Outcomes:
    total: OutcomeFigures
    groups: List[OutcomeFigures]
    by: Optional[str]
    currency: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Outcomes":
        return cls(total=OutcomeFigures.from_json(data), groups=[OutcomeFigures.from_json(g) for g in data["groups"]],
                   by=data.get("by"), currency=data["currency"])


@dataclass(frozen=True)
class SpendingRow:
    """One row of SPENDING: the keys of its group (those asked ``by``) and its figures."""
    compensations: int
    gross: int
    reversals: int
    reversed: int
    net: int
    overrides: int
    spent: int
    agent_id: Optional[str] = None
    day: Optional[str] = None
    kind: Optional[str] = None
    category: Optional[str] = None
    charged: Optional[int] = None
    allowance: Optional[int] = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SpendingRow":
        return cls(**_pick(cls, data))


@dataclass(frozen=True)
class Spending:
    from_day: str
    to_day: str
    currency: str
    by: List[str]
    rows: List[SpendingRow]
    total_gross: int
    total_reversed: int
    total_net: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Spending":
        return cls(from_day=data["from"], to_day=data["to"], currency=data["currency"], by=list(data["by"]),
                   rows=[SpendingRow.from_json(r) for r in data["rows"]], total_gross=data["total_gross"],
                   total_reversed=data["total_reversed"], total_net=data["total_net"])


@dataclass(frozen=True)
class SignedHead:
    ledger: str
    position: int
    hash: str
    signed_at: str
    signature: str
    signing_key: Optional[str] = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "SignedHead":
        return cls(**_pick(cls, data))


@dataclass(frozen=True)
class BatchResult:
    """One event of a batch: its receipt, or the error that refused it."""
    receipt: Optional[Receipt] = None
    error: Optional[Any] = field(default=None)

    @property
    def ok(self) -> bool:
        return self.receipt is not None
