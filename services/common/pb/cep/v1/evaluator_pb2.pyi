from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShardStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ShardInfo(_message.Message):
    __slots__ = ("shard", "alive", "rules", "series", "detail_json", "consuming", "last_seq", "snapshot_seq", "pending", "poison", "error")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    DETAIL_JSON_FIELD_NUMBER: _ClassVar[int]
    CONSUMING_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SEQ_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    POISON_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    shard: int
    alive: bool
    rules: int
    series: int
    detail_json: str
    consuming: bool
    last_seq: int
    snapshot_seq: int
    pending: int
    poison: int
    error: str
    def __init__(self, shard: _Optional[int] = ..., alive: _Optional[bool] = ..., rules: _Optional[int] = ..., series: _Optional[int] = ..., detail_json: _Optional[str] = ..., consuming: _Optional[bool] = ..., last_seq: _Optional[int] = ..., snapshot_seq: _Optional[int] = ..., pending: _Optional[int] = ..., poison: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class ShardStatusReply(_message.Message):
    __slots__ = ("shards",)
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    shards: _containers.RepeatedCompositeFieldContainer[ShardInfo]
    def __init__(self, shards: _Optional[_Iterable[_Union[ShardInfo, _Mapping]]] = ...) -> None: ...

class AnomalyStatusRequest(_message.Message):
    __slots__ = ("tenant", "rule_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    rule_id: str
    def __init__(self, tenant: _Optional[str] = ..., rule_id: _Optional[str] = ...) -> None: ...

class AnomalyStatusReply(_message.Message):
    __slots__ = ("status_json",)
    STATUS_JSON_FIELD_NUMBER: _ClassVar[int]
    status_json: str
    def __init__(self, status_json: _Optional[str] = ...) -> None: ...
