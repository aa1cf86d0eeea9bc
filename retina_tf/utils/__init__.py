"""Small helpers every stage shares: the one-line errors a person reads, and paths that may be buckets."""
