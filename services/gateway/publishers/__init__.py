"""Publishers: committed SQL rows mirrored into the KV buckets the other services read (SQL -> KV)."""
