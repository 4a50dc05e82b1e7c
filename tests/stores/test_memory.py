from __future__ import annotations

import pytest

from nullptr_auth.stores import MemoryStore

from .contract import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()

    @pytest.fixture
    def other_view(self, store: MemoryStore) -> MemoryStore:
        """A memory store is one process's: its only other view is itself."""
        return store
