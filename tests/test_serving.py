"""The table through which `formcase serve`'s processes take turns at new connections."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from formcase import serving


def test_a_process_takes_a_connection_while_it_holds_at_most_one_more_than_the_fewest() -> None:
    with serving.shared_table(2) as path:
        other = subprocess.Popen(["sleep", "60"])
        try:
            table = serving.Table(path)
            # The other process's entry, as its own Table would write it.
            other_entry = serving.Table(path)
            other_entry.pid = other.pid
            other_entry.publish(3)

            assert table.my_turn(4)
            assert not table.my_turn(5)
            other.kill()
            other.wait()
            # A process that is gone holds nothing back.
            assert table.my_turn(5)
        finally:
            other.kill()
            other.wait()


def test_a_process_alone_always_takes_its_turn() -> None:
    with serving.shared_table(1) as path:
        assert serving.Table(path).my_turn(100)


def test_a_restarted_process_takes_the_entry_of_one_that_is_gone() -> None:
    with serving.shared_table(1) as path:  # two entries
        first = serving.Table(path)
        serving.Table(path)  # this live process's, the second entry
        gone = subprocess.Popen(["true"])
        gone.wait()
        first.pid = gone.pid  # a process that died: its entry is free again
        first.publish(0)
        replacement = serving.Table(path)
        assert replacement.offset == first.offset
        with pytest.raises(RuntimeError, match="no free entry"):
            serving.Table(path)  # both entries held by live processes


def _allowed_under(soft: int, hard: int, wanted: int) -> list[str]:
    """`connections_allowed(wanted)` in a process whose open-files limit is (soft, hard):
    what it returns, the soft limit after, and what it logged."""
    code = (
        "import logging, resource; logging.basicConfig(format='%(message)s');"
        "from formcase.serving import connections_allowed;"
        f"print(connections_allowed({wanted}), resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [*done.stdout.split(), done.stderr]


def test_the_open_files_limit_is_raised_to_fit_the_connection_cap() -> None:
    assert _allowed_under(300, 4096, 1000) == ["1000", "1128", ""]


def test_the_connection_cap_is_lowered_to_fit_an_open_files_limit_that_cannot_be_raised() -> None:
    allowed, soft, said = _allowed_under(300, 300, 1000)
    assert (allowed, soft) == ("172", "300")
    assert "open files limit (300) leaves room for 172 connections" in said
