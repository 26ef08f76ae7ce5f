"""Going live and back to test: the verification an integration must pass, and the audit trail of switches.

``go_live`` runs three kinds of checks and switches only if every one passes
(or the person forces it, which the audit trail records):

1. the store connector's own ``checks`` (e.g. the credentials can write);
2. stock levels were imported: every run-once inbound feed into the hub
   (the stock import) has completed;
3. a stock check is clean: the latest run of every ``check`` feed succeeded
   with no mismatch, and ran after the last stock import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from engine.connector import Check, RunContext
from engine.errors import EngineError
from engine.store import modes, tables

if TYPE_CHECKING:
    from engine.app import Engine
    from engine.config import IntegrationDef
    from engine.feeds import FeedDef

STOCK_IMPORTED = "stock levels were imported"
STOCK_CLEAN = "a stock check is clean"


@dataclass(frozen=True)
class ModeReport:
    """The outcome of ``go_live`` / ``go_test``.

    Attributes:
        integration: The integration's name.
        before: Its mode before the command.
        mode: Its mode after the command.
        switched: Whether the mode changed (and a switch was recorded).
        forced: Whether ``--force`` took it past failed checks.
        checks: The verification steps (go-live only), in the order they ran.
        reason: The reason recorded in the audit trail.
    """

    integration: str
    before: str
    mode: str
    switched: bool
    forced: bool = False
    checks: tuple[Check, ...] = ()
    reason: str = ""

    @property
    def failed(self) -> list[Check]:
        """The checks that did not pass."""
        return [c for c in self.checks if not c.ok]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"integration": self.integration, "before": self.before, "mode": self.mode,
                "switched": self.switched, "forced": self.forced, "reason": self.reason,
                "ok": not self.failed, "checks": [asdict(c) for c in self.checks]}


@dataclass(frozen=True)
class ModeChangeInfo:
    """One entry of the audit trail of mode switches."""

    id: int
    integration: str
    from_mode: str | None
    to_mode: str
    at: datetime
    reason: str
    forced: bool
    checks: Any = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {**asdict(self), "at": self.at.isoformat()}


# -- the checks --------------------------------------------------------------------------------


def verify(engine: Engine, name: str) -> list[Check]:
    """Every go-live check of the integration ``name``, passed or not (nothing is switched)."""
    integ = engine.integration(name)
    return [*connector_checks(engine, integ), stock_imported(engine, integ), stock_clean(engine, integ)]


def connector_checks(engine: Engine, integ: IntegrationDef) -> list[Check]:
    """The store connector's own checks; an error raised by them is a failed check."""
    ctx = RunContext(integration=integ.name, feed="", mode=engine.mode(integ.name))
    try:
        with engine.connector_for(integ, "store") as conn:
            found = list(conn.checks(ctx))
    except EngineError as exc:
        return [Check("credentials can write", False, engine.masker.mask(f"{type(exc).__name__}: {exc}"))]
    except Exception as exc:  # a connector bug is a failed check, not a traceback
        return [Check("connector checks", False, engine.masker.mask(f"unexpected {type(exc).__name__}: {exc}"))]
    if not found:
        return [Check("connector checks", True, f"connector {integ.connector!r} declares no go-live checks")]
    wrong = [c for c in found if not isinstance(c, Check)]
    if wrong:  # a connector bug is a failed check, not a traceback
        return [Check("connector checks", False, f"connector {integ.connector!r} returned {wrong[0]!r} from checks(); "
                                                 "expected a list of engine.Check(name, ok, detail)")]
    return [Check(c.name, c.ok, engine.masker.mask(c.detail)) for c in found]


def import_feeds(integ: IntegrationDef) -> list[FeedDef]:
    """The run-once inbound feeds into the hub (stock imports first: those whose target mentions stock)."""
    once = [fd for fd in integ.feeds.values()
            if fd.run_once and fd.direction == "inbound" and fd.target.side == "hub"]
    stock = [fd for fd in once if "stock" in fd.target.resource or "stock" in fd.name]
    return stock or once


def stock_imported(engine: Engine, integ: IntegrationDef) -> Check:
    """Passes when every stock import feed of the integration has completed once."""
    feeds = import_feeds(integ)
    if not feeds:
        return Check(STOCK_IMPORTED, False, f"integration {integ.name!r} has no run-once inbound feed into the hub "
                                            "that imports stock levels; nothing has imported them")
    with engine.transactions() as s:
        fs = tables.feed_state.c
        done = {r.feed: r.once_done_at for r in s.execute(select(fs.feed, fs.once_done_at).where(
            fs.integration == integ.name, fs.feed.in_([f.name for f in feeds])))}
    missing = [f.name for f in feeds if done.get(f.name) is None]
    if missing:
        cmds = "; ".join(f"connect-engine run {m} --integration {integ.name}" for m in missing)
        return Check(STOCK_IMPORTED, False, f"not run yet: {', '.join(missing)} (run: {cmds})")
    when = max(d for d in done.values() if d is not None)
    return Check(STOCK_IMPORTED, True, f"{', '.join(f.name for f in feeds)} completed (last at "
                                       f"{when:%Y-%m-%d %H:%M} UTC)")


def stock_clean(engine: Engine, integ: IntegrationDef) -> Check:
    """Passes when the latest run of every check feed succeeded with no errors, after the last stock import."""
    checks = [fd for fd in integ.feeds.values() if fd.direction == "check"]
    if not checks:
        return Check(STOCK_CLEAN, False, f"integration {integ.name!r} has no check feed to compare stock with")
    imports = import_feeds(integ)
    problems, good = [], []
    with engine.transactions() as s:
        fs = tables.feed_state.c
        imported = s.scalar(select(fs.once_done_at).where(
            fs.integration == integ.name, fs.feed.in_([f.name for f in imports]),
            fs.once_done_at.is_not(None)).order_by(fs.once_done_at.desc()).limit(1))
        for fd in checks:
            ex = tables.executions.c
            last = s.execute(select(tables.executions).where(
                ex.integration == integ.name, ex.feed == fd.name,
                ex.status.not_in(["running", "skipped"])).order_by(ex.id.desc()).limit(1)).first()
            run_cmd = f"connect-engine run {fd.name} --integration {integ.name}"
            if last is None:
                problems.append(f"{fd.name} has not run (run: {run_cmd})")
                continue
            errors = int((last.counts or {}).get("errors", 0))
            if last.status != "success" or errors:
                problems.append(f"{fd.name}: execution {last.id} ended {last.status} with {errors} mismatch(es) "
                                f"(see connect-engine executions show {last.id})")
            elif imported is not None and last.started_at < imported:
                problems.append(f"{fd.name}: execution {last.id} ran before the last stock import; run it again "
                                f"({run_cmd})")
            else:
                good.append(f"{fd.name}: execution {last.id} compared {last.counts.get('read', 0)} record(s), "
                            "no mismatch")
    if problems:
        return Check(STOCK_CLEAN, False, "; ".join(problems))
    return Check(STOCK_CLEAN, True, "; ".join(good))


# -- switching ---------------------------------------------------------------------------------


def go_live(engine: Engine, name: str, *, force: bool = False, reason: str | None = None) -> ModeReport:
    """Verify the integration and switch it to ``live`` if every check passed (or ``force``).

    Returns:
        The report; ``switched`` is False when a check failed without ``force``
        (the caller refuses with ``failed``) or the integration was already live.
    """
    integ = engine.integration(name)
    checks = tuple(verify(engine, name))
    failed = [c for c in checks if not c.ok]
    before = engine.mode(name)
    if before == "live" or (failed and not force):
        return ModeReport(name, before, before, False, False, checks)
    why = reason or "all go-live checks passed"
    if failed:
        forced_past = "forced past failed checks: " + "; ".join(c.name for c in failed)
        why = f"{reason} ({forced_past})" if reason else forced_past
    with engine.transactions.begin() as s:
        modes.set_mode(s, name, "live", initial=integ.mode, now=engine.clock(), reason=why, forced=force,
                       checks=[asdict(c) for c in checks])
    return ModeReport(name, before, "live", True, force, checks, why)


def go_test(engine: Engine, name: str, *, reason: str | None = None) -> ModeReport:
    """Switch the integration back to ``test`` (outbound feeds stop); recorded in the audit trail."""
    integ = engine.integration(name)
    before = engine.mode(name)
    if before == "test":
        return ModeReport(name, before, before, False)
    why = reason or "switched back to test"
    with engine.transactions.begin() as s:
        modes.set_mode(s, name, "test", initial=integ.mode, now=engine.clock(), reason=why)
    return ModeReport(name, before, "test", True, reason=why)


def current_modes(engine: Engine) -> dict[str, str]:
    """The mode of every configured integration (one query; engine.yaml's initial mode where none is stored)."""
    with engine.transactions() as s:
        st = tables.integration_state.c
        stored = dict(s.execute(select(st.name, st.mode)).all())
    return {name: stored.get(name, integ.mode) for name, integ in engine.config.integrations.items()}


def history(engine: Engine, name: str | None = None) -> list[ModeChangeInfo]:
    """The audit trail of mode switches (of one integration, or all), oldest first."""
    if name is not None:
        engine.mode(engine.integration(name).name)  # records the initial mode if it never was
    with engine.transactions() as s:
        return [ModeChangeInfo(r.id, r.integration, r.from_mode, r.to_mode, r.at, r.reason, bool(r.forced), r.checks)
                for r in modes.history(s, name)]
