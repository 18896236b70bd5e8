"""Where tables live: the storage root, Delta helpers, the `_ops` tables, the run lock and
the writer fence, table listing and read-only SQL."""
