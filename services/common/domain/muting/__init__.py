"""Whether an event is muted now, and by what: silences and inhibition composed, as Alertmanager reports them."""
