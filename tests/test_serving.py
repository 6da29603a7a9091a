"""The table through which `formcase serve`'s processes take turns at new connections."""

from __future__ import annotations

import subprocess

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
