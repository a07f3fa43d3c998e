from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.create_completion_chunk import CreateCompletionChunk


T = TypeVar("T", bound="CreateCompletionStreamEvent")


@_attrs_define
class CreateCompletionStreamEvent:
    """One server-sent event of a completion stream. Its `data` field holds a CreateCompletionChunk as JSON; the stream
    ends with the literal `data: [DONE]`.

        Attributes:
            data (CreateCompletionChunk): One streamed piece of a completion. `finish_reason` is null until the last chunk
                of its choice. The usage chunk (stream_options.include_usage) has empty `choices`; the other chunks then carry
                `usage: null`.
    """

    data: CreateCompletionChunk
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.create_completion_chunk import CreateCompletionChunk

        d = dict(src_dict)
        data = CreateCompletionChunk.from_dict(d.pop("data"))

        create_completion_stream_event = cls(
            data=data,
        )

        create_completion_stream_event.additional_properties = d
        return create_completion_stream_event

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
