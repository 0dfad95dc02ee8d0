"""The messages that cross a service boundary: one model per kind, one codec (`codec.py`), one module per family.

Kinds and where they travel (subjects in `services/common/nats/subjects.py`):
- raw event       CEP_EVENTS `cep.ingest.<tenant>` / `cep.internal.<tenant>`: the producer's JSON object as sent;
                  `Nats-Msg-Id` = event id, `Cep-Received-At` = arrival time (set by HTTP ingest)
- work.py         rule changes (`cep.control.rules`), work messages (CEP_WORK `cep.work.<shard>`: events batches,
                  the legacy single event, rule, tick, trigger) and trigger replies (`cep.trigger.reply.<id>`)
- alerts.py       alerts (CEP_ALERTS `cep.alerts.<tenant>`: a transition plus typed `Action`s; id = transition id),
                  ACK notices (CEP_ALERTS `cep.acks.<tenant>`) and the one reading of which actions notify a channel
- delivery.py     delivery, digest and group jobs (CEP_DELIVERY), delivery results (CEP_RESULTS), the notifier's
                  dead letters (CEP_DEAD)
- feed.py         feed messages (CEP_FEED_<tenant> `cep.feed.<tenant>`)
- channels.py     the channel entry (KV `cep-channels` `<tenant>.<channel_id>`, secrets sealed)
- schedule.py     the scheduler's run event and run record (CEP_SCHEDULE_RUNS)
- dead letters    the CEP_DEAD envelope itself lives with its publishers in `services/common/nats/dead_letters.py`

A consumer decodes with the kind's `decode` (or `codec.decode(model, data)`), which validates; a message that does
not decode raises `codec.MessageError` whose reason names the field, and goes to the dead letters with it.
"""
