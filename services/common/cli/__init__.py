"""The `cep` command line: `cep up` (the supervisor) and the operator commands."""
