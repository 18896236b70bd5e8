"""Landed bytes to text rows: the format readers, the sandbox that runs them, and intake
(hash, recognise, check the header, build bronze rows)."""
