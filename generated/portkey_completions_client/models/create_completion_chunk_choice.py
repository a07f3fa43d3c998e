from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..models.create_completion_chunk_choice_finish_reason_type_0 import (
    CreateCompletionChunkChoiceFinishReasonType0,
)

if TYPE_CHECKING:
    from ..models.create_completion_chunk_choice_logprobs_type_0 import (
        CreateCompletionChunkChoiceLogprobsType0,
    )


T = TypeVar("T", bound="CreateCompletionChunkChoice")


@_attrs_define
class CreateCompletionChunkChoice:
    """
    Attributes:
        index (int):
        text (str):
        logprobs (CreateCompletionChunkChoiceLogprobsType0 | None):
        finish_reason (CreateCompletionChunkChoiceFinishReasonType0 | None): Null until the last chunk of this choice.
    """

    index: int
    text: str
    logprobs: CreateCompletionChunkChoiceLogprobsType0 | None
    finish_reason: CreateCompletionChunkChoiceFinishReasonType0 | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.create_completion_chunk_choice_logprobs_type_0 import (
            CreateCompletionChunkChoiceLogprobsType0,  # noqa: PLC0415
        )

        index = self.index

        text = self.text

        logprobs: dict[str, Any] | None
        if isinstance(self.logprobs, CreateCompletionChunkChoiceLogprobsType0):
            logprobs = self.logprobs.to_dict()
        else:
            logprobs = self.logprobs

        finish_reason: None | str
        if isinstance(self.finish_reason, CreateCompletionChunkChoiceFinishReasonType0):
            finish_reason = self.finish_reason.value
        else:
            finish_reason = self.finish_reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "index": index,
                "text": text,
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.create_completion_chunk_choice_logprobs_type_0 import (
            CreateCompletionChunkChoiceLogprobsType0,  # noqa: PLC0415
        )

        d = dict(src_dict)
        index = d.pop("index")

        text = d.pop("text")

        def _parse_logprobs(
            data: object,
        ) -> CreateCompletionChunkChoiceLogprobsType0 | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                logprobs_type_0 = CreateCompletionChunkChoiceLogprobsType0.from_dict(
                    data
                )

                return logprobs_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateCompletionChunkChoiceLogprobsType0 | None, data)

        logprobs = _parse_logprobs(d.pop("logprobs"))

        def _parse_finish_reason(
            data: object,
        ) -> CreateCompletionChunkChoiceFinishReasonType0 | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finish_reason_type_0 = CreateCompletionChunkChoiceFinishReasonType0(
                    data
                )

                return finish_reason_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(CreateCompletionChunkChoiceFinishReasonType0 | None, data)

        finish_reason = _parse_finish_reason(d.pop("finish_reason"))

        create_completion_chunk_choice = cls(
            index=index,
            text=text,
            logprobs=logprobs,
            finish_reason=finish_reason,
        )

        create_completion_chunk_choice.additional_properties = d
        return create_completion_chunk_choice

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
