"""``ConnectionPool``: who makes room for a new connection, and when one is refused."""

from __future__ import annotations

from runtime.serve._pool import ConnectionPool


def test_the_per_client_cap_displaces_that_address_s_longest_waiting_connection() -> None:
    pool: ConnectionPool[str] = ConnectionPool(per_client=2, total=10)
    assert pool.admit("a1", "A").evicted == ()
    pool.admit("a2", "A")
    pool.admit("b1", "B")
    admission = pool.admit("a3", "A")
    assert admission.evicted == ("a1",) and admission.by == "max_connections_per_client"
    assert admission.refused is None and len(pool) == 3


def test_the_total_cap_displaces_the_longest_waiting_connection_of_anyone() -> None:
    pool: ConnectionPool[str] = ConnectionPool(per_client=5, total=3)
    for conn, host in (("a1", "A"), ("b1", "B"), ("c1", "C")):
        pool.admit(conn, host)
    pool.serving("a1")
    pool.waiting("a1")  # served, idle again: now the newest waiting
    admission = pool.admit("d1", "D")
    assert admission.evicted == ("b1",) and admission.by == "max_connections"
    assert len(pool) == 3 and pool.waiting_count() == 3


def test_connections_serving_requests_are_never_displaced() -> None:
    pool: ConnectionPool[str] = ConnectionPool(per_client=2, total=3)
    pool.admit("a1", "A")
    pool.admit("a2", "A")
    pool.serving("a1")
    pool.serving("a2")
    assert pool.admit("a3", "A").refused == "max_connections_per_client"
    pool.admit("b1", "B")
    pool.serving("b1")
    assert pool.admit("c1", "C").refused == "max_connections"
    pool.remove("a1")  # closed: room again
    assert pool.admit("c1", "C").evicted == ()
    assert len(pool) == 3


def test_an_unknown_address_counts_only_against_the_total() -> None:
    pool: ConnectionPool[str] = ConnectionPool(per_client=1, total=2)
    pool.admit("x1", None)
    pool.admit("x2", None)
    admission = pool.admit("x3", None)
    assert admission.evicted == ("x1",) and len(pool) == 2
    pool.remove("x1")  # already gone: no-op
    assert len(pool) == 2
