"""Fixtures shared by the test modules."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run a test's torch work on one thread, then restore the setting.

    Two threads on a busy 2-core machine spin-wait for each other and run many times slower;
    one thread is about as fast when the machine is idle.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
