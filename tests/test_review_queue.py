"""The review queue in SQL (db/review_queue.py) on SQLite and PostgreSQL: pages, orders,
filters, next clip, label suggestions, the adjudication view and the overlap plan.

Every expectation is computed independently in Python from the rows (``chosen_draft``,
``reviews_disagree``), so the SQL is checked against the rule it restates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from db import (
    Annotator,
    Assignment,
    Draft,
    DraftStatus,
    ReviewKind,
    ReviewStatus,
    get_engine,
    session_scope,
    sqlite_url,
)
from db.queries import (
    ReviewInput,
    annotator_id,
    chosen_draft,
    reviews_disagree,
    reviews_of,
    save_review,
)
from db.review_queue import (
    QueueError,
    QueueFilter,
    QueueOrder,
    TeamError,
    adjudication_view,
    assign_overlap,
    label_suggestions,
    next_clip,
    queue_count,
    queue_page,
)
from tests.seeds import N, review_as, seed


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "queue.db")
    else:
        yield str(request.getfixturevalue("pg_url"))


def _key(s: Session, clip_id: int) -> float:
    d = chosen_draft(s, clip_id)
    assert d is not None
    ok = d.status == DraftStatus.VALID and d.confidence is not None
    return d.confidence if ok and d.confidence is not None else -1.0


def _all_pages(s: Session, me: int, filt: QueueFilter, order: QueueOrder, size: int) -> list[int]:
    seen: list[int] = []
    for page in range(100):
        rows = queue_page(s, me, filt, order, offset=page * size, limit=size)
        assert len(rows) <= size
        if not rows:
            return seen
        seen.extend(r.clip_id for r in rows)
    raise AssertionError("more than 100 pages")


def test_pages_are_disjoint_and_cover_the_queue_once_in_each_order(url: str) -> None:
    ids = seed(url)
    with session_scope(url) as s:
        me = annotator_id(s, "alice")
        everything = QueueFilter(status="all")
        assert queue_count(s, me, everything) == N
        oldest = _all_pages(s, me, everything, QueueOrder.OLDEST, 7)
        assert oldest == ids
        uncertain = _all_pages(s, me, everything, QueueOrder.UNCERTAIN, 4)
        assert sorted(uncertain) == ids and len(set(uncertain)) == N
        assert uncertain == sorted(ids, key=lambda c: (_key(s, c), c))
        assert queue_page(s, me, everything, "uncertain", offset=N, limit=5) == []


def test_uncertain_order_uses_the_chosen_draft_of_the_newest_run(url: str) -> None:
    ids = seed(url)
    with session_scope(url) as s:
        me = annotator_id(s, "alice")
        rows = queue_page(s, me, QueueFilter(status="all"), QueueOrder.UNCERTAIN, 0, N)
        by_id = {r.clip_id: r for r in rows}
        invalid_or_none = [
            r for r in rows if r.draft_status != "valid" or r.draft_confidence is None
        ]
        assert rows[: len(invalid_or_none)] == invalid_or_none  # those come first
        assert {r.clip_id for r in invalid_or_none} == {ids[i] for i in range(N) if i % 5 == 0} | {
            ids[i] for i in range(N) if i % 5 == 2 and i % 4 == 2
        }
        scored = [r.draft_confidence for r in rows[len(invalid_or_none) :]]
        assert scored == sorted(scored)  # type: ignore[type-var]
        # i=1: the older run's 0.99 and the newer run's unchosen 0.01 are both ignored
        assert by_id[ids[1]].draft_confidence == pytest.approx(7 / 31)
        assert by_id[ids[1]].model_id == "m-b"
        # i=12: the newer run's chosen sample is invalid, so its first valid sample stands
        assert by_id[ids[12]].draft_status == "valid"
        assert by_id[ids[12]].draft_confidence == pytest.approx(((12 * 7) % 31) / 31)
        for clip_id, row in by_id.items():  # the SQL rule is db.queries.chosen_draft's
            d = chosen_draft(s, clip_id)
            assert d is not None
            assert (row.draft_status, row.draft_confidence, row.model_id) == (
                d.status,
                d.confidence,
                d.model_id,
            )
        assert by_id[ids[0]].error_code == "invalid_draft"
        assert by_id[ids[7]].error_code == "decode_timeout"
        assert by_id[ids[8]].error_code is None


def test_filters_model_error_status_and_assignment(url: str) -> None:
    ids = seed(url)
    with session_scope(url) as s:
        me, bob = annotator_id(s, "alice"), annotator_id(s, "bob")

        def listed(**kw: object) -> list[int]:
            filt = QueueFilter(**kw)  # type: ignore[arg-type]
            got = _all_pages(s, me, filt, QueueOrder.OLDEST, 50)
            assert queue_count(s, me, filt) == len(got)
            return got

        odd = [c for c in ids if chosen_draft(s, c).model_id == "m-b"]  # type: ignore[union-attr]
        assert listed(status="all", model_id="m-b") == odd and len(odd) == N // 2
        errored = [ids[i] for i in range(N) if i % 5 == 0 or i == 7]
        assert listed(status="all", has_error=True) == errored
        assert listed(status="all", has_error=False) == [c for c in ids if c not in errored]

        review_as(s, ids[3], "alice")
        review_as(s, ids[4], "bob")
        review_as(s, ids[5], "alice", caption="one")
        review_as(s, ids[5], "bob", caption="two")  # disagree
        review_as(s, ids[6], "alice")
        review_as(s, ids[6], "bob")  # agree
        s.add(Assignment(clip_id=ids[9], annotator_id=bob))
        s.add(Assignment(clip_id=ids[10], annotator_id=me))
        s.add(Assignment(clip_id=ids[4], annotator_id=me))  # bob reviewed it, I am to as well
        s.flush()
        assert listed(status="mine") == [ids[3], ids[5], ids[6]]
        assert listed(status="reviewed") == [ids[3], ids[4], ids[5], ids[6]]
        assert listed(status="needs_adjudication") == [ids[5]]
        todo = listed(status="todo")
        assert ids[4] in todo and ids[10] in todo  # assigned to me
        assert ids[9] not in todo  # bob's
        assert not {ids[3], ids[5], ids[6]} & set(todo)  # mine, done
        assert todo == [c for n, c in enumerate(ids) if n not in (3, 5, 6, 9)]
        assert listed(status="all", assigned_to=me) == [ids[4], ids[10]]
        assert listed(status="all", assigned_to=bob) == [ids[9]]
        assert listed(status="todo", assigned_to=bob) == []  # bob's clip is not my to-do
        rows = {r.clip_id: r for r in queue_page(s, me, QueueFilter("all"), "oldest", 0, 10)}
        assert (rows[ids[5]].n_reviews, rows[ids[5]].needs_adjudication) == (2, True)
        assert (rows[ids[6]].n_reviews, rows[ids[6]].needs_adjudication) == (2, False)
        assert rows[ids[3]].my_review_status == "edited" and rows[ids[4]].my_review_status is None
        with pytest.raises(QueueError, match="unknown queue status"):
            queue_count(s, me, QueueFilter(status="done"))
        with pytest.raises(QueueError, match="unknown queue order"):
            queue_page(s, me, QueueFilter(), "newest")


def test_next_clip_walks_the_order_and_never_returns_a_clip_i_reviewed(url: str) -> None:
    ids = seed(url)
    with session_scope(url) as s:
        me, bob = annotator_id(s, "alice"), annotator_id(s, "bob")
        for i in (2, 3, 11):
            review_as(s, ids[i], "alice")
        s.add(Assignment(clip_id=ids[4], annotator_id=bob))
        s.flush()
        everything = QueueFilter(status="all")
        order = sorted(ids, key=lambda c: (_key(s, c), c))
        allowed = [c for c in order if c not in {ids[2], ids[3], ids[11], ids[4]}]
        walked, current = [], None
        for _ in range(N + 1):
            current = next_clip(s, me, everything, QueueOrder.UNCERTAIN, current)
            assert current is not None
            if current in walked:
                break
            walked.append(current)
        assert walked == allowed and current == allowed[0]  # wrapped round to the first
        # from a reviewed clip, the next allowed one after it in the order
        pos = order.index(ids[11])
        expect = next(c for c in order[pos + 1 :] if c in allowed)
        assert next_clip(s, me, everything, "uncertain", ids[11]) == expect
        assert next_clip(s, me, everything, "oldest", ids[1]) == ids[5]
        # bob may open his assigned clip
        assert next_clip(s, bob, everything, "oldest", ids[3]) == ids[4]
        only = QueueFilter(status="all", model_id="m-a")
        assert next_clip(s, me, only, "oldest", ids[0]) == ids[6]
        for c in allowed:
            review_as(s, c, "alice")
        assert next_clip(s, me, everything, "oldest", ids[0]) is None


def test_label_suggestions_most_used_first(url: str) -> None:
    ids = seed(url, n=10)
    with session_scope(url) as s:
        # valid chosen-run drafts of i=1,3,4,6,7,8,9 (and 2's first sample, 'sad')...
        review_as(s, ids[0], "alice", labels=["hopeful", "happy"])
        review_as(s, ids[1], "bob", labels=["hap_py%"])
        got = label_suggestions(s, "h")
        assert got[0] == "happy" and set(got) == {"happy", "hopeful", "hap_py%"}
        counts = Counter(
            lab for d in s.exec(select(Draft).where(Draft.status == "valid")) for lab in d.labels
        )
        assert label_suggestions(s, "Ho") == ["hopeful"] and counts["hopeful"] >= 1
        assert label_suggestions(s, "hap_") == ["hap_py%"]  # _ is literal, not a wildcard
        assert (
            label_suggestions(s, "", limit=2)
            == [
                lab
                for lab, _ in sorted(
                    (counts + Counter({"hopeful": 1, "happy": 1, "hap_py%": 1})).items(),
                    key=lambda kv: (-kv[1], kv[0]),
                )
            ][:2]
        )
        assert label_suggestions(s, "zzz") == []


def test_adjudication_view_lists_sides_and_differing_fields(url: str) -> None:
    ids = seed(url, n=3)
    with session_scope(url) as s:
        review_as(s, ids[0], "alice", caption="Tense.", labels=["anxious"])
        review_as(s, ids[0], "bob", caption=" Tense. ", labels=["fear"])
        review_as(s, ids[0], "carol", status=ReviewStatus.SKIPPED, caption="x")
        view = adjudication_view(s, ids[0])
        assert [x.annotator for x in view.annotations] == ["alice", "bob", "carol"]
        assert view.differing == ["labels"] and view.needs_adjudication
        assert view.adjudication is None and view.adjudication_version is None
        data = ReviewInput(ReviewStatus.EDITED, "Tense.", ["fear"], 0.2, 0.4)
        save_review(s, ids[0], "dana", None, data, None, kind=ReviewKind.ADJUDICATION)
        view = adjudication_view(s, ids[0])
        assert view.adjudication is not None and view.adjudication.annotator == "dana"
        assert view.adjudication_version == 1 and not view.needs_adjudication
        assert view.differing == ["labels"]
        me = annotator_id(s, "alice")
        assert queue_page(s, me, QueueFilter("needs_adjudication"), "oldest", 0, 5) == []
        assert adjudication_view(s, ids[1]).annotations == []


def _team(s: Session, *names: str) -> None:
    for name in names:
        s.add(Annotator(name=name))
    s.flush()


def test_assign_overlap_balanced_seeded_and_idempotent(url: str) -> None:
    ids = seed(url, n=25)
    with session_scope(url) as s:
        _team(s, "a", "b", "c")
        review_as(s, ids[0], "z")  # someone outside the team reviewed clip 0
        report = assign_overlap(s, ["a", "b", "c"], 0.2, 2, seed=3)
        rows = s.exec(select(Assignment.clip_id, Assignment.annotator_id)).all()
        assert len(rows) == len(set(rows))  # never the same person twice on a clip
        per_clip = Counter(c for c, _ in rows)
        assert set(per_clip) == set(ids)
        assert sum(1 for n in per_clip.values() if n == 2) == round(0.2 * 25) == 5
        assert max(per_clip.values()) == 2
        team_ids = {annotator_id(s, n) for n in "abc"}
        loads = Counter(w for _, w in rows if w in team_ids)
        assert max(loads.values()) - min(loads.values()) <= 1
        assert sum(loads.values()) == 24 + 5  # clip 0 is z's
        assert report.n_clips == 25 and report.n_new_clips == 24 and report.n_from_reviews == 1
        assert report.n_added == 30 and report.n_overlap_clips == 5
        assert report.per_annotator == {n: loads[annotator_id(s, n)] for n in "abc"}
        again = assign_overlap(s, ["a", "b", "c"], 0.2, 2, seed=3)
        assert (again.n_added, again.n_new_clips, again.n_overlap_clips) == (0, 0, 5)
        assert s.exec(select(Assignment.clip_id, Assignment.annotator_id)).all() == rows
    more = seed(url, n=10)  # ten new drafted clips
    with session_scope(url) as s:
        third = assign_overlap(s, ["a", "b", "c"], 0.2, 2, seed=3)
        assert third.n_new_clips == 10 and third.n_overlap_clips == round(0.2 * 35) == 7
        rows = s.exec(select(Assignment.clip_id, Assignment.annotator_id)).all()
        per_clip = Counter(c for c, _ in rows)
        assert set(more) <= set(per_clip) and sum(per_clip[c] for c in more) == 12


def test_assign_overlap_same_seed_same_plan_and_refuses_bad_requests(tmp_path: Path) -> None:
    plans = []
    for run in range(2):
        url = sqlite_url(tmp_path / f"plan{run}.db")
        seed(url, n=20)
        with session_scope(url) as s:
            _team(s, "a", "b", "c", "gone")
            s.exec(select(Annotator).where(Annotator.name == "gone")).one().active = False
            assign_overlap(s, ["a", "b", "c"], 0.5, 3, seed=7)
            plans.append(
                sorted(
                    (c, n)
                    for c, n in s.exec(
                        select(Assignment.clip_id, Annotator.name).join(
                            Annotator, col(Annotator.id) == Assignment.annotator_id
                        )
                    )
                )
            )
            with pytest.raises(TeamError, match="not active team members: gone, nobody"):
                assign_overlap(s, ["a", "gone", "nobody"], 0.1)
            with pytest.raises(TeamError, match="at least that many"):
                assign_overlap(s, ["a", "b"], 0.1, 3)
            with pytest.raises(TeamError, match="between 0 and 1"):
                assign_overlap(s, ["a", "b"], 1.5)
    assert plans[0] == plans[1] and sum(1 for _ in Counter(c for c, _ in plans[0]).items()) == 20
    assert Counter(Counter(c for c, _ in plans[0]).values()) == {3: 10, 1: 10}


def test_the_queue_issues_bounded_queries(tmp_path: Path) -> None:
    """A page fetches only the page's rows: the statements carry LIMIT/OFFSET."""
    url = sqlite_url(tmp_path / "q.db")
    seed(url, n=5)
    statements: list[str] = []
    from sqlalchemy import event

    engine = get_engine(url)

    def log(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", log)
    try:
        with session_scope(url) as s:
            me = annotator_id(s, "alice")
            queue_page(s, me, QueueFilter("all"), "uncertain", 2, 2)
            next_clip(s, me, QueueFilter("todo"), "uncertain", None)
    finally:
        event.remove(engine, "before_cursor_execute", log)
    selects = [
        x for x in statements if x.lstrip().upper().startswith("SELECT") and "FROM clip" in x
    ]
    assert selects and all("LIMIT" in x for x in selects[:1])
    assert any("OFFSET" in x for x in selects)
    assert sum(1 for x in selects if "LIMIT" in x) >= 2


def test_needs_adjudication_in_sql_agrees_with_reviews_disagree(url: str) -> None:
    """Pairs of annotations that differ in one verdict field each (or not at all)."""
    pairs: list[tuple[dict[str, object], dict[str, object]]] = [
        ({}, {}),  # the same verdict
        ({"caption": "Calm."}, {"caption": "  Calm. "}),  # spaces do not count
        ({"caption": "Calm."}, {"caption": "Calm!"}),
        ({"labels": ["calm", "sad"]}, {"labels": ["sad", "calm"]}),  # order counts, as in Python
        ({"labels": ["calm"]}, {"labels": ["calm"]}),
        ({"valence": 0.2}, {"valence": None}),
        ({"valence": None}, {"valence": None}),
        ({"arousal": 0.4}, {"arousal": 0.45}),
        ({"status": ReviewStatus.EDITED}, {"status": ReviewStatus.REJECTED}),
        ({"caption": "x"}, {"caption": "y", "status": ReviewStatus.SKIPPED}),  # skips do not count
    ]
    ids = seed(url, n=len(pairs))
    with session_scope(url) as s:
        for clip_id, verdicts in zip(ids, pairs, strict=True):
            for who, v in zip(("ann", "ben"), verdicts, strict=True):
                data = ReviewInput(
                    status=v.get("status", ReviewStatus.EDITED),  # type: ignore[arg-type]
                    caption=v.get("caption", "Calm."),  # type: ignore[arg-type]
                    labels=v.get("labels", ["calm"]),  # type: ignore[arg-type]
                    valence=v.get("valence", 0.1),  # type: ignore[arg-type]
                    arousal=v.get("arousal", 0.4),  # type: ignore[arg-type]
                )
                save_review(s, clip_id, who, None, data, None)
        me = annotator_id(s, "ann")
        rows = queue_page(s, me, QueueFilter("all"), "oldest", 0, 50)
        expected = [reviews_disagree(reviews_of(s, c)) for c in ids]
        assert [r.needs_adjudication for r in rows] == expected
        assert expected == [False, False, True, True, False, True, False, True, True, False]
        listed = queue_page(s, me, QueueFilter("needs_adjudication"), "oldest", 0, 50)
        assert [r.clip_id for r in listed] == [c for c, e in zip(ids, expected, strict=True) if e]
        assert [adjudication_view(s, c).needs_adjudication for c in ids] == expected


def test_next_clip_after_a_clip_without_draft_continues_in_id_order(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "n.db")
    ids = seed(url, n=4)  # clip ids[-1] + 1 and + 2 have no draft
    with session_scope(url) as s:
        me = annotator_id(s, "ann")
        undrafted = ids[-1] + 1
        assert next_clip(s, me, QueueFilter("all"), "oldest", ids[1]) == ids[2]
        assert next_clip(s, me, QueueFilter("all"), "oldest", undrafted) == ids[0]  # wraps
        assert next_clip(s, me, QueueFilter("all"), "oldest", ids[0] - 1) == ids[0]
        assert next_clip(s, me, QueueFilter("all"), "uncertain", undrafted) is not None
