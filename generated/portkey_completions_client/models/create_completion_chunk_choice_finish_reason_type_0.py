from enum import StrEnum


class CreateCompletionChunkChoiceFinishReasonType0(StrEnum):
    CONTENT_FILTER = "content_filter"
    LENGTH = "length"
    STOP = "stop"

    def __str__(self) -> str:
        return str(self.value)
