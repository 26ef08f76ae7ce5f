"""The other half of a check feed: records the target has that the source never showed.

A check feed (``direction: check``) reads the source page by page and compares
each record with the target's record of the same key: a difference, or a record
the target lacks, rings the bell. That alone never notices a record the *target*
has and the source does not (a SKU the hub still links to a store variant that
was deleted). So after the last page of a complete run, the target's own records
are read (its ``read``: for the hub's stock, the SKUs linked to the integration)
and each key the source did not show in this run rings the bell too.

"Shown" means: mapped and compared, or settled by one of the feed's rules with the
target key among the source record's own fields (an inventory item the store does
not track still names its ``sku``). A target resource that cannot be read is not
checked this way. Nothing runs for a run that was interrupted or failed, or for a
re-check of parked records: they did not see the whole source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.connector import RunContext
from engine.store.records import empty_counts

if TYPE_CHECKING:
    from engine.pagedata import PageResult
    from engine.pipeline import Pipeline

HINT = ("The {target} has a record the {source} does not: remove or unlink it in the {target}, "
        "or create it in the {source}, then run the check again.")


def report(pipe: Pipeline) -> PageResult | None:
    """Ring the bell for each target record the source did not show; None when the target cannot be read."""
    from engine.pagedata import Item, Prepared

    run, feed = pipe.run, pipe.feed
    resource = run.target.resource(feed.target.resource)
    if resource is None or not resource.read:
        return None
    source, target = feed.source.side, feed.target.side
    hint = HINT.format(source=source, target=target)
    ctx = RunContext(integration=run.integration.name, feed=feed.name, mode=run.mode, params=feed.target.params,
                     log=run.log)
    counts = empty_counts()
    page = Prepared(counts, [], [], [], [], [])
    missing: set[str] = set()
    for part in run.target.read(feed.target.resource, cursor=None, ctx=ctx):
        for record in part.records if part is not None else ():
            key = record.get(pipe.target_key)
            if key is None or str(key) in pipe.seen or str(key) in missing:
                continue
            key = str(key)
            missing.add(key)
            counts["errors"] += 1
            page.bells.append((Item(key=key, label=None), "missing",
                               f"{key}: the {target} has it, the {source} has no record of it", hint,
                               {"key": key, "missing": f"{source} has no record {key!r}"}))
    return pipe.finish(page)
