from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="CreateCompletionStreamEvent")


@_attrs_define
class CreateCompletionStreamEvent:
    """One server-sent event of a completion stream, as SSE parsers read it. Its `data` holds a CreateCompletionChunk as
    JSON (an ErrorResponse if the stream fails midway); the stream ends with the literal `data: [DONE]`.

        Attributes:
            data (str): JSON of a CreateCompletionChunk, or of an ErrorResponse, or the literal [DONE]. OpenAPI 3.0 cannot
                type the JSON inside a string, so the x-content* keys say it for tools (and tests) that read them.
            event (str | Unset):
    """

    data: str
    event: str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = self.data

        event = self.event

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "data": data,
            }
        )
        if event is not UNSET:
            field_dict["event"] = event

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        data = d.pop("data")

        event = d.pop("event", UNSET)

        create_completion_stream_event = cls(
            data=data,
            event=event,
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
