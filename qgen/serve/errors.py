"""The one error a request can get back: an HTTP status, the field at fault and a sentence (never a traceback)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, field: str | None, message: str):
        super().__init__(message)
        self.status, self.field, self.message = status, field, message

    def body(self) -> dict:
        where = f"{self.field}: " if self.field else ""
        return {"detail": where + self.message, "field": self.field}
