"""CEP platform services: one package per service, shared domain code in `services.common`."""
