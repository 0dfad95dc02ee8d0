"""The pipeline benchmark: the product end to end, next to a Bytewax peer and the machine's limits (`make bench`)."""
